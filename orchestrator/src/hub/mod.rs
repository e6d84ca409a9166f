//! The hub: the live registry of downstream servers and the one call policy every route uses.
//!
//! [`Hub`] holds every [`Downstream`] (configured and generated), the current [`Catalog`]
//! (rebuilt whenever a server's lists change, then announced to clients), the private
//! instances of `per_client` servers, and the [`Relay`]. `call` is the call policy: timeout,
//! cancellation, progress, the server's requests during a call and crash handling, the same
//! for typed (rmcp) and raw (JSON line) calls. `guard` puts the guardrails around every tool
//! call (policy, asking a person or a model, redaction, the `audit` trail; `approvals` is the
//! queue of calls waiting for a person). `registrations` are the generated servers kept in the
//! state folder, loaded at start and watched. `author` asks a model for text.
//!
//! Never here: anything of the front doors (`front/`), plans or generation. They call the
//! hub; the hub does not know them.

pub mod approvals;
pub mod audit;
pub mod author;
pub mod call;
pub mod guard;
pub mod registrations;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
    JsonObject, ProgressToken, RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, RoleServer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{
    Config, FrontConfig, GenerateConfig, LlmConfig, PlansConfig, ServerSpec, StartPolicy,
};
use crate::error::Error;
use crate::registry::catalog::Entry;
use crate::registry::{Catalog, Route};
use crate::runtime::relay::Changed;
use crate::runtime::{Downstream, Event, ListKind, Relay, Status};

/// Who a request to a downstream server is made for, and how to reach back to them.
#[derive(Debug, Default, Clone)]
pub struct CallContext {
    /// The client whose request this is (for progress, sampling, elicitation, roots).
    pub client: Option<Peer<RoleServer>>,
    /// The call's own stream to the client, when the front carries one (the HTTP front's raw
    /// route): progress and the server's requests go there instead of through `client`.
    pub events: Option<mpsc::Sender<crate::runtime::relay::CallEvent>>,
    /// The client's progress token, if it asked for progress.
    pub client_token: Option<ProgressToken>,
    /// Cancelled when the client cancels.
    pub cancel: CancellationToken,
    /// For 2026-07-28 clients: their request `_meta` (protocol version, capabilities, log
    /// level), sent on to servers that speak that era so they see the real client.
    pub inline_meta: Option<RequestMetaObject>,
    /// The client's session (see [`Hub::open_session`]): `per_client` servers run one
    /// instance per session. `None` (polyclaw's own calls, 2026-07-28 clients, which have no
    /// session): the shared instance.
    pub session: Option<u64>,
    /// Who the call is for: a client (the default, under every guardrail) or the operator at
    /// polyclaw's command line.
    pub origin: Origin,
    /// For a plan's steps: the tools a person approved for the whole run.
    pub preapproved: Option<guard::Preapproved>,
    /// For a plan's steps: the plan's goal (a judge reads it).
    pub goal: Option<String>,
    /// Which bearer token the client's request carried (a short digest of it, never the
    /// token), for the audit trail.
    pub token_id: Option<String>,
    /// A 2026-07-28 client's retry of this call: its `inputResponses` and `requestState`
    /// (answers to what polyclaw asked it, when the state is polyclaw's).
    pub retry: Option<(Option<rmcp::model::InputResponses>, Option<String>)>,
}

/// Who a call is made for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An MCP client (or a plan it started): the policy applies in full.
    #[default]
    Client,
    /// The person at polyclaw's command line (`polyclaw tools call`, `polyclaw plan run`):
    /// nothing asks them again, but `deny` still holds.
    Operator,
}

/// How long a list request waits for lazily started servers.
pub const LIST_WAIT: Duration = Duration::from_secs(20);

/// The registry of running servers and the merged view over them.
pub struct Hub {
    servers: RwLock<BTreeMap<String, Arc<Downstream>>>,
    catalog: RwLock<Arc<Catalog>>,
    /// Routes from downstream servers back to clients.
    pub relay: Arc<Relay>,
    events: mpsc::UnboundedSender<Event>,
    /// Cancelled at shutdown; every server's supervisor token is a child of it.
    root: CancellationToken,
    /// Front-door settings.
    pub front: FrontConfig,
    /// The plan-writing model endpoint, if configured.
    pub llm: Option<LlmConfig>,
    /// Planning settings.
    pub plans: PlansConfig,
    /// Private instances of `per_client` servers, by (server, session).
    instances: std::sync::Mutex<BTreeMap<(String, u64), Arc<Downstream>>>,
    next_session: std::sync::atomic::AtomicU64,
    /// Tool definition pins (drift detection).
    pub pins: crate::registry::pins::Pins,
    /// Server generation settings.
    pub generate: GenerateConfig,
    /// Names of the servers from the configuration (generated ones are the others).
    pub config_servers: Vec<String>,
    /// The guardrails' rules.
    pub policy: crate::registry::policy::Policy,
    /// Known secrets, kept from leaving polyclaw.
    pub redactor: crate::registry::redact::Redactor,
    /// The audit trail.
    pub audit: audit::Audit,
    /// Calls waiting for a person who could not be asked through the client.
    pub approvals: approvals::Approvals,
    /// Tools a person allowed for the rest of a session.
    pub allowances: guard::Allowances,
    /// Approval questions asked of 2026-07-28 clients, awaiting their retry.
    pub rounds: guard::Rounds,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

impl Hub {
    /// Builds the mesh from a configuration plus the generated servers registered in the
    /// state folder, starts `start = "boot"` servers and watches the registrations. Must be
    /// called inside a tokio runtime. `root` cancels everything at shutdown.
    #[must_use]
    pub fn start(config: &Config, root: CancellationToken) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let relay = Arc::new(Relay::default());
        let state = config.plans.state_dir();
        let mut specs = config.servers.clone();
        for generated in registrations::load_specs(&state) {
            if specs.iter().any(|s| s.name == generated.name) {
                tracing::warn!(server = %generated.name, "a generated server has the name of a configured one; the configured one is used (`polyclaw servers remove` removes the generated one)");
            } else {
                specs.push(generated);
            }
        }
        let servers = specs
            .iter()
            .map(|spec| {
                let ds = Downstream::new(spec.clone(), &root, tx.clone(), relay.clone());
                (spec.name.clone(), ds)
            })
            .collect();
        let hub = Arc::new(Self {
            servers: RwLock::new(servers),
            catalog: RwLock::new(Arc::default()),
            relay,
            events: tx,
            root,
            front: config.front.clone(),
            llm: config.llm.clone(),
            plans: config.plans.clone(),
            instances: std::sync::Mutex::default(),
            next_session: std::sync::atomic::AtomicU64::new(1),
            pins: crate::registry::pins::Pins::new(
                Some(config.plans.pins_path()),
                config.security.tool_drift,
            ),
            generate: config.generate.clone(),
            config_servers: config.servers.iter().map(|s| s.name.clone()).collect(),
            policy: config.policy.clone(),
            redactor: config.redactor(),
            audit: audit::Audit::new(&state, config.audit.clone()),
            approvals: approvals::Approvals::new(&state),
            allowances: guard::Allowances::default(),
            rounds: guard::Rounds::default(),
        });
        crate::registry::redact::install_for_logs(&hub.redactor);
        tokio::spawn(event_loop(Arc::downgrade(&hub), rx));
        let known = registrations::names(&state);
        tokio::spawn(registrations::watch(
            Arc::downgrade(&hub),
            state,
            known,
            hub.root.child_token(),
        ));
        for ds in hub.servers() {
            ds.prewarm();
            if ds.spec.start == StartPolicy::Boot {
                ds.ensure_started();
            }
        }
        hub
    }

    /// A new client session id; call [`Hub::close_session`] when the session ends.
    pub fn open_session(&self) -> u64 {
        self.next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the private instances of a session that ended.
    pub fn close_session(&self, session: u64) {
        self.allowances.forget(session);
        let ended = self.take_instances(|_, s| s == session);
        if ended.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for ds in ended {
                    tracing::info!(server = %ds.spec.name, session, "client session ended; stopping its instance");
                    ds.shutdown().await;
                }
            });
        }
    }

    /// Removes the private instances whose (server, session) `which` picks, for stopping.
    fn take_instances(&self, which: impl Fn(&str, u64) -> bool) -> Vec<Arc<Downstream>> {
        let mut all = self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let keys: Vec<_> = all
            .keys()
            .filter(|(server, session)| which(server, *session))
            .cloned()
            .collect();
        keys.into_iter().filter_map(|k| all.remove(&k)).collect()
    }

    /// The instance of `ds` that serves this call: its own for a `per_client` server and a
    /// client with a session, else the shared one.
    fn instance_for(&self, ds: Arc<Downstream>, ctx: &CallContext) -> Arc<Downstream> {
        let (true, Some(session)) = (ds.spec.per_client, ctx.session) else {
            return ds;
        };
        let mut all = self
            .instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry((ds.spec.name.clone(), session))
            .or_insert_with(|| ds.instance(&self.root))
            .clone()
    }

    /// How many private instances of `server` exist (for listings and tests).
    #[must_use]
    pub fn instance_count(&self, server: &str) -> usize {
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .filter(|k| k.0 == server)
            .count()
    }

    /// Every server, in name order.
    #[must_use]
    pub fn servers(&self) -> Vec<Arc<Downstream>> {
        read(&self.servers).values().cloned().collect()
    }

    /// One server.
    #[must_use]
    pub fn server(&self, name: &str) -> Option<Arc<Downstream>> {
        read(&self.servers).get(name).cloned()
    }

    /// The current merged view.
    #[must_use]
    pub fn catalog(&self) -> Arc<Catalog> {
        read(&self.catalog)
    }

    /// Starts every enabled server that has not been started and waits (up to `wait`) until
    /// each is ready or has failed, so lists include lazily started servers. The catalog is
    /// current when it returns: a server that became ready a moment ago, before the event
    /// loop rebuilt the catalog, is in it too.
    pub async fn warm_up(&self, wait: Duration) {
        let pending: Vec<_> = self
            .servers()
            .into_iter()
            .filter(|ds| matches!(ds.status(), Status::Stopped | Status::Starting))
            .filter(|ds| ds.spec.enabled)
            .collect();
        if !pending.is_empty() {
            let waits = pending.iter().map(|ds| ds.peer(wait));
            let _ = futures::future::join_all(waits).await;
            self.rebuild();
        } else {
            let servers = self.servers();
            let views = servers.iter().map(|ds| (ds.spec.name.as_str(), ds.view()));
            if !self.catalog().is_built_from(views) {
                // A server's lists changed (or a server came or went) since it was built.
                self.rebuild();
            }
        }
    }

    /// Rebuilds the catalog from every server's last known lists.
    pub fn rebuild(&self) {
        let entries: Vec<Entry> = self
            .servers()
            .iter()
            .map(|ds| {
                let view = ds.view();
                Entry {
                    server: ds.spec.name.clone(),
                    prefix: ds.spec.prefix.clone(),
                    drift: self.pins.check(&ds.spec.name, &view.tools),
                    view,
                }
            })
            .collect();
        let catalog = Arc::new(Catalog::build(&entries));
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
    }

    /// Resolves an exposed tool name, warming up lazily started servers if it is not known yet.
    ///
    /// # Errors
    /// [`Error::UnknownTool`].
    pub async fn route_tool(&self, exposed: &str) -> Result<Route, Error> {
        if let Some(r) = self.catalog().tool_route(exposed) {
            return Ok(r.clone());
        }
        if self.catalog().blocked(exposed).is_some() && self.pins.reload_if_changed() {
            // Approved meanwhile (`polyclaw tools approve` wrote the pins).
            self.rebuild();
        }
        if let Some(reason) = self.catalog().blocked(exposed) {
            return Err(Error::ToolBlocked {
                tool: exposed.to_string(),
                reason: reason.to_string(),
            });
        }
        self.warm_up(LIST_WAIT).await;
        self.catalog()
            .tool_route(exposed)
            .cloned()
            .ok_or_else(|| Error::UnknownTool(exposed.to_string()))
    }

    /// Calls a downstream tool by its exposed name and returns its final result (tool calls
    /// made by polyclaw itself, e.g. from the CLI, never pass `input_required` rounds through).
    ///
    /// # Errors
    /// [`Error::UnknownTool`], [`Error::Unavailable`], [`Error::Timeout`], [`Error::Remote`],
    /// [`Error::Downstream`].
    pub async fn call_tool(
        &self,
        exposed: &str,
        arguments: Option<JsonObject>,
        ctx: &CallContext,
    ) -> Result<CallToolResult, Error> {
        match self
            .call_tool_response(exposed, arguments, None, ctx)
            .await?
        {
            CallToolResponse::Complete(r) => Ok(r),
            _ => Err(Error::Downstream {
                server: self.route_tool(exposed).await?.server,
                message:
                    "it asked for client input (input_required), which this caller cannot give"
                        .into(),
            }),
        }
    }

    /// Calls a downstream tool by its exposed name.
    ///
    /// `retry` carries `inputResponses`/`requestState` of a 2026-07-28 client's retry. When the
    /// client speaks 2026-07-28 (`ctx.inline_meta`) and the server does too, the request is
    /// sent in that era with the client's own metadata, and `input_required` results pass
    /// through unchanged; otherwise the server's requests for sampling, elicitation and roots
    /// are answered by asking the client from this task.
    ///
    /// # Errors
    /// See [`Hub::call_tool`].
    pub async fn call_tool_response(
        &self,
        exposed: &str,
        arguments: Option<JsonObject>,
        retry: Option<(Option<rmcp::model::InputResponses>, Option<String>)>,
        ctx: &CallContext,
    ) -> Result<CallToolResponse, Error> {
        let route = self.route_tool(exposed).await?;
        // An answer to polyclaw's own approval question (`ctx.retry`) is not the server's.
        let retry =
            retry.filter(|(_, state)| !state.as_deref().is_some_and(guard::is_approval_state));
        let fail = |e: serde_json::Error| Error::Downstream {
            server: route.server.clone(),
            message: format!("the call could not be written as JSON: {e}"),
        };
        let arguments_text = arguments
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(fail)?;
        let call = guard::ToolCall::routed(&route, exposed, arguments_text.as_deref());
        if let Some((ds, link)) = self.raw_route(&route.server, ctx, retry.is_some()) {
            let arguments = arguments_text.clone();
            let mut raw = call::Raw::new(
                &route.server,
                link,
                &route.name,
                arguments,
                ctx.client_token.is_some(),
            );
            if let Some(meta) = ctx.inline_meta.as_ref().filter(|_| ds.speaks_inline_era()) {
                // A `_meta` is a JSON object by its type; anything else is not sent.
                if let serde_json::Value::Object(meta) = serde_json::to_value(meta).map_err(fail)? {
                    raw = raw.with_meta(meta);
                }
            }
            if let Some((responses, state)) = retry {
                let mut extra = serde_json::Map::new();
                if let Some(responses) = responses {
                    extra.insert(
                        "inputResponses".into(),
                        serde_json::to_value(responses).map_err(fail)?,
                    );
                }
                if let Some(state) = state {
                    extra.insert("requestState".into(), state.into());
                }
                raw = raw.with_params(extra);
            }
            let line = self.guarded(&call, ctx, self.carry(&ds, raw, ctx)).await?;
            return call::tool_result(&route.server, &line);
        }
        let mut params = CallToolRequestParams::new(route.name.clone());
        params.arguments = arguments;
        if let Some((responses, state)) = retry {
            params.input_responses = responses;
            params.request_state = state;
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        match self
            .guarded(&call, ctx, self.request(&route.server, request, ctx))
            .await?
        {
            ServerResult::CallToolResult(r) => Ok(CallToolResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(CallToolResponse::InputRequired(r)),
            ServerResult::EmptyResult(_) => Ok(CallToolResponse::Complete(
                CallToolResult::success(Vec::new()),
            )),
            _ => Err(call::not_a_tool_result(&route.server)),
        }
    }

    /// The raw route to `server` for this call, when the call needs no translation: raw
    /// forwarding is on and the server (or the caller's instance of it) is up on stdio. A
    /// 2026-07-28 client's call to a server of that era goes with the client's own `_meta`;
    /// a retry (`inputResponses`, `requestState`) only to such a server.
    pub(crate) fn raw_route(
        &self,
        server: &str,
        ctx: &CallContext,
        retry: bool,
    ) -> Option<(Arc<Downstream>, Arc<crate::runtime::raw::RawLink>)> {
        if !self.front.forward_raw {
            return None;
        }
        let ds = self.instance_for(self.server(server)?, ctx);
        if retry && !(ctx.inline_meta.is_some() && ds.speaks_inline_era()) {
            return None;
        }
        let link = ds.raw_link()?;
        Some((ds, link))
    }

    /// Sends one request to a server and waits for its answer, relaying progress, the
    /// server's requests to the client, and cancellation; bounded by the server's timeout.
    ///
    /// # Errors
    /// [`Error::Unavailable`], [`Error::Timeout`], [`Error::Remote`], [`Error::Downstream`].
    pub async fn request(
        &self,
        server: &str,
        request: ClientRequest,
        ctx: &CallContext,
    ) -> Result<ServerResult, Error> {
        let ds = self
            .server(server)
            .ok_or_else(|| Error::UnknownServer(server.to_string()))?;
        let ds = self.instance_for(ds, ctx);
        let peer = ds.peer(crate::runtime::downstream::START_TIMEOUT).await?;
        let meta = ctx.inline_meta.clone().filter(|_| ds.speaks_inline_era());
        self.carry(&ds, call::Typed::new(server, peer, request, meta), ctx)
            .await
    }

    /// Adds a server at runtime, starts it and waits (bounded) until it is up; clients are
    /// told the tool list changed.
    ///
    /// # Errors
    /// [`Error::DuplicateServer`]; the server's own start error is returned too, but the
    /// server stays registered (it is retried with backoff) so the caller can inspect it.
    pub async fn add_server(&self, spec: ServerSpec) -> Result<Arc<Downstream>, Error> {
        let ds = {
            let mut servers = self
                .servers
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if servers.contains_key(&spec.name) {
                return Err(Error::DuplicateServer(spec.name));
            }
            let ds = Downstream::new(spec, &self.root, self.events.clone(), self.relay.clone());
            servers.insert(ds.spec.name.clone(), ds.clone());
            ds
        };
        tracing::info!(server = %ds.spec.name, "server added");
        self.record_registry(&ds.spec.name, "added", &ds.spec.endpoint());
        ds.prewarm();
        ds.peer(crate::runtime::downstream::START_TIMEOUT).await?;
        Ok(ds)
    }

    /// Stops and removes a server; clients are told the lists changed.
    ///
    /// # Errors
    /// [`Error::UnknownServer`].
    /// One audit line for a change of the registry.
    fn record_registry(&self, server: &str, what: &str, endpoint: &str) {
        let mut entry = audit::Entry::new("registry");
        entry.server = Some(server.to_string());
        entry.decision = Some(what.to_string());
        entry.detail = Some(self.redactor.text(endpoint).into_owned());
        self.audit.record(&entry);
    }

    pub async fn remove_server(&self, name: &str) -> Result<(), Error> {
        let ds = self
            .servers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| Error::UnknownServer(name.to_string()))?;
        let private = self.take_instances(|server, _| server == name);
        futures::future::join_all(private.iter().map(|ds| ds.shutdown())).await;
        ds.shutdown().await;
        tracing::info!(server = %name, "server removed");
        self.record_registry(name, "removed", &ds.spec.endpoint());
        let _ = self.events.send(Event::ListsChanged {
            server: name.to_string(),
            kinds: vec![ListKind::Tools, ListKind::Prompts, ListKind::Resources],
        });
        Ok(())
    }

    /// Stops every server and waits (bounded) until their processes are reaped.
    pub async fn shutdown(&self) {
        self.root.cancel();
        let mut all = self.servers();
        all.extend(
            self.instances
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .cloned(),
        );
        futures::future::join_all(all.iter().map(|ds| ds.shutdown())).await;
    }
}

/// Rebuilds the catalog and tells clients whenever a server's lists change. Changes are
/// judged against what clients were last told, so a rebuild made elsewhere (e.g. by
/// `add_server`) never hides a change from them.
async fn event_loop(hub: std::sync::Weak<Hub>, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut announced: Option<Arc<Catalog>> = None;
    while let Some(event) = rx.recv().await {
        let Some(hub) = hub.upgrade() else { break };
        let Event::ListsChanged { mut kinds, .. } = event;
        // Coalesce a burst of changes into one rebuild and one round of notifications.
        while let Ok(Event::ListsChanged { kinds: more, .. }) = rx.try_recv() {
            kinds.extend(more);
        }
        hub.rebuild();
        let after = hub.catalog();
        let before = announced.replace(after.clone()).unwrap_or_default();
        let tools_changed = kinds.contains(&ListKind::Tools) && before.tools != after.tools;
        let prompts_changed = kinds.contains(&ListKind::Prompts) && before.prompts != after.prompts;
        let resources_changed = kinds.contains(&ListKind::Resources)
            && (before.resources != after.resources || before.templates != after.templates);
        if tools_changed {
            hub.relay.broadcast_list_changed(Changed::Tools).await;
        }
        if prompts_changed {
            hub.relay.broadcast_list_changed(Changed::Prompts).await;
        }
        if resources_changed {
            hub.relay.broadcast_list_changed(Changed::Resources).await;
        }
    }
}
