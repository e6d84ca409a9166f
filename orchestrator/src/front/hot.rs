//! The hot path of the stdio front door: `tools/call` forwarded as raw JSON lines.
//!
//! rmcp's typed model on both hops costs a stdio client ~150 µs per call (parsing and building
//! every message twice, and a few task hand-offs). For the calls that need no translation,
//! the front's reader hands the line to [`HotPath::try_handle`], which parses only the
//! envelope (`id`, `method`, `params.name`, with `arguments` kept as raw JSON), rewrites the
//! id to one of the server's raw ids (`runtime::raw`), the tool name to the server's own and
//! the progress token to the call's, and writes it to the server's stdin; the response comes
//! back through the stdout tap with only its id rewritten. A 2026-07-28 client's call goes
//! the same way: its `_meta` is passed on to a server of that era, and `resultType` is added
//! to an older server's result. Everything else (polyclaw's own tools, unknown, blocked or
//! not yet listed tools, calls the guardrails must ask about, servers not running,
//! `per_client` servers, HTTP servers, retries of `input_required`, requests with fields
//! beyond `name`, `arguments` and `_meta`) goes to rmcp and the front door, as does every
//! other method; the hub still carries such a call raw when its server is up on stdio
//! (`Hub::call_tool_response`). The envelope types and [`Call`] serve the HTTP front's raw
//! route too (`http_raw`).
//!
//! The call itself runs under the hub's one call policy (`hub::call`, carried by
//! `call::Raw`): progress, the server's requests during the call, timeout, cancellation and
//! crashes behave exactly as on the typed path. This module only reads the client's line and
//! writes the client's answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rmcp::model::{ProgressToken, RequestId};
use rmcp::service::{Peer, RoleServer};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::own_tools;
use crate::error::Error;
use crate::hub::call::Raw;
use crate::hub::guard::ToolCall;
use crate::hub::{CallContext, Hub};
use crate::runtime::raw::contains_bytes;

/// A client's message as the raw routes read it: only the envelope.
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub method: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub params: Option<&'a RawValue>,
}

/// The params of a `tools/call` the raw routes take: nothing beyond these fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallParams<'a> {
    pub name: String,
    #[serde(borrow)]
    pub arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", borrow, default)]
    raw_meta: Option<&'a RawValue>,
    #[serde(skip)]
    pub meta: Option<MetaIn>,
}

impl<'a> CallParams<'a> {
    /// Reads a `tools/call`'s params (`None`: not for a raw route).
    pub fn read(text: &'a str) -> Option<Self> {
        let mut params: Self = serde_json::from_str(text).ok()?;
        params.meta = match params.raw_meta {
            Some(raw) => Some(serde_json::from_str(raw.get()).ok()?),
            None => None,
        };
        Some(params)
    }

    /// The `_meta` object as the client wrote it.
    pub fn meta_map(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        match serde_json::from_str(self.raw_meta?.get()).ok()? {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// Arguments that are not an object get rmcp's own refusal (invalid params), and
    /// polyclaw's own tools are served by the front door: neither goes raw.
    pub fn goes_raw(&self) -> bool {
        !own_tools::is_own(&self.name) && self.arguments.is_none_or(|a| a.get().starts_with('{'))
    }
}

#[derive(Deserialize)]
pub(super) struct MetaIn {
    #[serde(rename = "progressToken")]
    pub progress_token: Option<ProgressToken>,
    /// A 2026-07-28 client's per-request protocol version (its `_meta` is kept whole).
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    pub protocol_version: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CancelParams {
    #[serde(rename = "requestId")]
    pub request_id: RequestId,
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
    hub: Arc<Hub>,
    /// To the one writer of stdout.
    out: mpsc::Sender<String>,
    client: OnceLock<Peer<RoleServer>>,
    /// Whether the client speaks 2026-07-28 (per-request `_meta`, `resultType` in results).
    inline: std::sync::atomic::AtomicBool,
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
    pub fn new(hub: Arc<Hub>, out: mpsc::Sender<String>) -> Arc<Self> {
        Arc::new(Self {
            hub,
            out,
            client: OnceLock::new(),
            inline: std::sync::atomic::AtomicBool::new(false),
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// Turns the hot path on for this client (its requests to the client go through `peer`);
    /// `inline`: it speaks 2026-07-28.
    pub fn enable(&self, peer: Peer<RoleServer>, inline: bool) {
        self.inline
            .store(inline, std::sync::atomic::Ordering::Relaxed);
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
        let Some(params) = CallParams::read(params.get()) else {
            return false;
        };
        if !params.goes_raw() {
            return false;
        }
        let inline = self.inline.load(std::sync::atomic::Ordering::Relaxed);
        // A 2026-07-28 request names its protocol version in `_meta`; without it rmcp answers
        // with the error the spec asks for.
        let meta = if inline {
            if params
                .meta
                .as_ref()
                .is_none_or(|m| m.protocol_version.as_deref() != Some("2026-07-28"))
            {
                return false;
            }
            params.meta_map()
        } else {
            None
        };
        let Some(route) = self.hub.catalog().tool_route(&params.name).cloned() else {
            return false;
        };
        let Some(ds) = self.hub.server(&route.server) else {
            return false;
        };
        if ds.spec.per_client {
            return false;
        }
        let Some(link) = ds.raw_link() else {
            return false;
        };
        let arguments = params.arguments.map(|a| a.get().to_owned());
        let guarded = ToolCall::routed(&route, &params.name, arguments.as_deref());
        // A call that must ask someone goes the typed way, where the client can be asked.
        if !self.hub.runs_unasked(&guarded, &CallContext::default()) {
            return false;
        }
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
            inline,
        };
        let ctx = CallContext {
            client: Some(client.clone()),
            client_token: params.meta.and_then(|m| m.progress_token),
            cancel,
            inline_meta: None,
            session: None,
            events: None,
            ..CallContext::default()
        };
        let mut raw = Raw::new(
            &route.server,
            link,
            &route.name,
            arguments.clone(),
            ctx.client_token.is_some(),
        );
        // A server of the client's era gets the client's own `_meta` (its version, info and
        // capabilities); an older one only what its era knows.
        if let Some(meta) = meta.filter(|_| ds.speaks_inline_era()) {
            raw = raw.with_meta(meta);
        }
        let hot = self.clone();
        tokio::spawn(async move {
            let _in_flight = InFlight { hot: &hot, key };
            let guarded = ToolCall::routed(&route, &call.exposed, arguments.as_deref());
            let carried = hot.hub.carry(&ds, raw, &ctx);
            let line = match hot.hub.guarded(&guarded, &ctx, carried).await {
                Ok(line) => call.relay(&line),
                // rmcp answers nothing to a cancelled request; neither does the raw route.
                Err(Error::Cancelled { .. }) => return,
                Err(e) => call.failed(&e),
            };
            let _ = hot.out.send(line).await;
        });
        true
    }
}

/// One call on a raw route: what turns the server's answer into the client's.
pub(super) struct Call {
    /// The client's id, as the JSON text it sent.
    pub client_id: String,
    pub exposed: String,
    pub server: String,
    /// The client speaks 2026-07-28: a result it gets names its `resultType`.
    pub inline: bool,
}

impl Call {
    /// The server's response with the client's id.
    pub fn relay(&self, line: &[u8]) -> String {
        let (key, body) = match serde_json::from_slice::<Response<'_>>(line) {
            Ok(Response {
                result: Some(r), ..
            }) => ("result", r.get()),
            Ok(Response { error: Some(e), .. }) => ("error", e.get()),
            _ => {
                return self.failed(&crate::hub::call::not_a_tool_result(&self.server));
            }
        };
        let mut out = String::with_capacity(64 + self.client_id.len() + body.len());
        out.push_str(r#"{"jsonrpc":"2.0","id":"#);
        out.push_str(&self.client_id);
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        // Results of older-era servers carry no `resultType`; a 2026-07-28 client needs it.
        match body.strip_prefix('{') {
            Some(rest) if self.inline && key == "result" && !body.contains("\"resultType\"") => {
                out.push_str(r#"{"resultType":"complete""#);
                if !rest.trim_start().starts_with('}') {
                    out.push(',');
                }
                out.push_str(rest);
            }
            _ => out.push_str(body),
        }
        out.push('}');
        out
    }

    /// A tool error result for the client, as the typed path gives it.
    pub fn failed(&self, error: &Error) -> String {
        tracing::warn!(tool = %self.exposed, "call failed: {error}");
        let mut result = rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
            error.to_string(),
        )]);
        if self.inline {
            result.result_type = Some(rmcp::model::ResultType::COMPLETE);
        }
        let result = serde_json::to_string(&result).unwrap_or_else(|_| "{}".into());
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            self.client_id
        )
    }
}

/// A request id as a map key (its JSON text, normalised).
pub(super) fn id_key(id: &RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Call;
    use serde_json::Value;

    fn call() -> Call {
        Call {
            client_id: "\"abc\"".into(),
            exposed: "echo__echo".into(),
            server: "echo".into(),
            inline: false,
        }
    }

    #[test]
    fn a_2026_client_gets_result_type_complete_in_every_result() -> anyhow::Result<()> {
        let mut c = call();
        c.inline = true;
        let old: Value = serde_json::from_str(
            &c.relay(br#"{"jsonrpc":"2.0","id":"pc:7","result":{"content":[],"isError":false}}"#),
        )?;
        assert_eq!(old["result"]["resultType"], "complete");
        assert_eq!(old["result"]["isError"], false);
        let empty: Value =
            serde_json::from_str(&c.relay(br#"{"jsonrpc":"2.0","id":"pc:7","result":{}}"#))?;
        assert_eq!(
            empty["result"],
            serde_json::json!({"resultType": "complete"})
        );
        let asks: Value = serde_json::from_str(&c.relay(
            br#"{"jsonrpc":"2.0","id":"pc:7","result":{"resultType":"input_required","requestState":"s"}}"#,
        ))?;
        assert_eq!(asks["result"]["resultType"], "input_required");
        let err: Value = serde_json::from_str(
            &c.relay(br#"{"jsonrpc":"2.0","id":"pc:7","error":{"code":-32602,"message":"bad"}}"#),
        )?;
        assert!(err["error"].get("resultType").is_none());
        let failed: Value = serde_json::from_str(&c.relay(br#"{"jsonrpc":"2.0","id":"pc:7"}"#))?;
        assert_eq!(failed["result"]["resultType"], "complete");
        Ok(())
    }

    #[test]
    fn the_response_gets_the_clients_id_back() -> anyhow::Result<()> {
        let c = call();
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
        Ok(())
    }
}
