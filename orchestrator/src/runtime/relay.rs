//! The relay: carries what downstream servers send *up* to the front door's clients.
//!
//! - Progress: rmcp gives every downstream request its own progress token; the relay maps
//!   (server, that token) back to the calling client and the client's own token.
//! - Sampling, elicitation and roots requests from a server go to the call in flight on that
//!   server (the most recent one when several are), as an [`UpRequest`] on the call's channel.
//!   The call answers it from its own task, which is what lets rmcp's Streamable HTTP server put
//!   the request on the stream of the client's original POST.
//! - Logging and resource updates go to every connected client.
//!
//! The relay never blocks a downstream: a client that has gone away is skipped and forgotten.

#![expect(
    deprecated,
    reason = "sampling and roots are deprecated in 2026-07-28 but still served to older peers"
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientCapabilities, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ListRootsResult, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{Peer, RoleServer, SubscriptionSendError, SubscriptionSink};
use tokio::sync::{mpsc, oneshot};

/// A request a downstream server makes of the client, waiting for the client's answer.
#[derive(Debug)]
pub enum UpRequest {
    /// `sampling/createMessage`
    Sample(
        CreateMessageRequestParams,
        oneshot::Sender<Result<CreateMessageResult, McpError>>,
    ),
    /// `elicitation/create`
    Elicit(
        ElicitRequestParams,
        oneshot::Sender<Result<ElicitResult, McpError>>,
    ),
    /// `roots/list`
    Roots(oneshot::Sender<Result<ListRootsResult, McpError>>),
}

/// What a call sends its client while it runs, on the call's own stream (see [`Reach`]).
#[derive(Debug)]
pub enum CallEvent {
    /// A progress notification, already under the client's own token.
    Progress(ProgressNotificationParam),
    /// A request of the server's, for the client to answer.
    Request(UpRequest),
}

/// How a call reaches back to its client while it runs.
#[derive(Debug, Clone)]
pub enum Reach {
    /// Through the client's rmcp peer (its session or stdio connection).
    Peer(Peer<RoleServer>),
    /// On the call's own stream: the front that owns the stream writes the events out and
    /// takes the client's answers (the HTTP front's raw route).
    Stream(mpsc::Sender<CallEvent>),
}

/// (server, the progress token rmcp gave the downstream request).
type ProgressKey = (String, ProgressToken);
/// (where the client is, the client's own progress token, the last progress value sent).
/// `None` where the call's progress goes nowhere (no client, or it did not ask).
type ProgressTarget = (Option<(Reach, ProgressToken)>, f64);

/// What the relay knows of a progress token.
enum Lookup {
    /// Send it there, under that token.
    Forward(Reach, ProgressToken),
    /// A call in flight (or just ended) that takes no such progress, or a value that does
    /// not increase on the last one sent: dropped.
    Drop,
    /// Not (yet) registered.
    Unknown,
}

/// How many ended calls' tokens are remembered, so their late progress is dropped at once.
const RETIRED: usize = 256;

/// A call in flight: who made it and where its up-requests go.
struct Caller {
    id: u64,
    up: mpsc::Sender<UpRequest>,
}

/// Shared routing tables. Cheap to lock: every critical section is a map operation.
#[derive(Default)]
pub struct Relay {
    next_id: AtomicU64,
    /// (server, downstream progress token) → (the client, the client's token).
    progress: Mutex<HashMap<ProgressKey, ProgressTarget>>,
    /// server → calls in flight on it, oldest first.
    callers: Mutex<HashMap<String, Vec<Caller>>>,
    /// Connected clients with a session, for broadcasts.
    fronts: Mutex<Vec<Peer<RoleServer>>>,
    /// Open `subscriptions/listen` streams of 2026-07-28 clients: (key, sink).
    listeners: Mutex<Vec<(u64, SubscriptionSink)>>,
    /// Woken whenever a call registers a progress token.
    registered: tokio::sync::Notify,
    /// Tokens of calls that ended, newest last (at most [`RETIRED`]).
    retired: Mutex<std::collections::VecDeque<ProgressKey>>,
}

/// How long progress with an unknown token waits for its call to register it.
pub const REGISTRATION_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Which list changed, for [`Relay::broadcast_list_changed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// tools/list
    Tools,
    /// prompts/list
    Prompts,
    /// resources/list
    Resources,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each operation under these locks is a single insert, remove or lookup, so a panic while
    // holding one cannot leave a map inconsistent: a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps a call's routes registered; dropping it removes them.
pub struct CallGuard<'a> {
    relay: &'a Relay,
    id: u64,
    server: String,
    client: Option<Reach>,
    token: Option<ProgressToken>,
    /// Up-requests for this call; `None` for calls without a client.
    pub up: Option<mpsc::Receiver<UpRequest>>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            let key = (self.server.clone(), token);
            lock(&self.relay.progress).remove(&key);
            let mut retired = lock(&self.relay.retired);
            if retired.len() == RETIRED {
                retired.pop_front();
            }
            retired.push_back(key);
        }
        if let Some(list) = lock(&self.relay.callers).get_mut(&self.server) {
            list.retain(|c| c.id != self.id);
        }
    }
}

impl CallGuard<'_> {
    /// Routes progress carrying the downstream request's token to the calling client, under
    /// the client's own token; for calls without a client or client token, marks the token
    /// as known so its progress is dropped at once.
    pub fn track_progress(
        &mut self,
        downstream: ProgressToken,
        client_token: Option<ProgressToken>,
    ) {
        let target = match (&self.client, client_token) {
            (Some(reach), Some(token)) => Some((reach.clone(), token)),
            _ => None,
        };
        lock(&self.relay.progress).insert(
            (self.server.clone(), downstream.clone()),
            (target, f64::NEG_INFINITY),
        );
        self.token = Some(downstream);
        self.relay.registered.notify_waiters();
    }
}

impl Relay {
    /// Registers a call from `client` to `server`.
    pub fn begin_call(&self, server: &str, client: Option<Reach>) -> CallGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut up = None;
        if client.is_some() {
            let (tx, rx) = mpsc::channel(4);
            lock(&self.callers)
                .entry(server.to_string())
                .or_default()
                .push(Caller { id, up: tx });
            up = Some(rx);
        }
        CallGuard {
            relay: self,
            id,
            server: server.to_string(),
            client,
            token: None,
            up,
        }
    }

    /// Where a progress notification of `server` goes: the client and its own token. A value
    /// that does not increase on the last one sent is dropped (rmcp handles notifications
    /// concurrently, so they can overtake each other; MCP requires progress to increase, so a
    /// late, smaller one is dropped rather than sent out of order).
    fn lookup(&self, server: &str, token: &ProgressToken, progress: f64) -> Lookup {
        let key = (server.to_string(), token.clone());
        let mut map = lock(&self.progress);
        let Some((target, last)) = map.get_mut(&key) else {
            drop(map);
            return if lock(&self.retired).contains(&key) {
                Lookup::Drop
            } else {
                Lookup::Unknown
            };
        };
        let Some((reach, client_token)) = target else {
            return Lookup::Drop;
        };
        if progress <= *last {
            return Lookup::Drop;
        }
        *last = progress;
        Lookup::Forward(reach.clone(), client_token.clone())
    }

    /// Sends a server's progress notification to the client of the call it belongs to, under
    /// the client's own token. A call registers its token once its request is sent, and a
    /// quick server can report progress before that: an unknown token is waited for (woken
    /// by each registration) up to [`REGISTRATION_WAIT`] before the notification is dropped.
    pub async fn forward_progress(&self, server: &str, mut params: ProgressNotificationParam) {
        let deadline = tokio::time::Instant::now() + REGISTRATION_WAIT;
        let target = loop {
            let registered = self.registered.notified();
            tokio::pin!(registered);
            // Armed before the look-up, so a registration in between is not missed.
            registered.as_mut().enable();
            match self.lookup(server, &params.progress_token, params.progress) {
                Lookup::Forward(reach, token) => break Some((reach, token)),
                Lookup::Drop => break None,
                Lookup::Unknown => {}
            }
            if tokio::time::timeout_at(deadline, registered).await.is_err() {
                tracing::debug!(
                    server,
                    "progress for a call polyclaw does not know; dropped"
                );
                break None;
            }
        };
        if let Some((reach, token)) = target {
            params.progress_token = token;
            match reach {
                Reach::Peer(peer) => {
                    if let Err(e) = peer.notify_progress(params).await {
                        tracing::debug!(server, "progress not delivered: {e}");
                    }
                }
                Reach::Stream(events) => {
                    if events.send(CallEvent::Progress(params)).await.is_err() {
                        tracing::debug!(
                            server,
                            "progress not delivered: the call's stream is closed"
                        );
                    }
                }
            }
        }
    }

    /// The up-request channel of the most recent call in flight on `server`.
    #[must_use]
    pub fn caller_of(&self, server: &str) -> Option<mpsc::Sender<UpRequest>> {
        lock(&self.callers)
            .get(server)
            .and_then(|list| list.iter().rev().find(|c| !c.up.is_closed()))
            .map(|c| c.up.clone())
    }

    /// Remembers a connected client for broadcasts.
    pub fn add_front(&self, peer: Peer<RoleServer>) {
        let mut fronts = lock(&self.fronts);
        fronts.retain(|p| !p.is_transport_closed());
        fronts.push(peer);
    }

    /// Every connected client, forgetting those that have gone.
    #[must_use]
    pub fn fronts(&self) -> Vec<Peer<RoleServer>> {
        let mut fronts = lock(&self.fronts);
        fronts.retain(|p| !p.is_transport_closed());
        fronts.clone()
    }
}

impl Relay {
    /// Registers a `subscriptions/listen` stream; returns its key for [`Relay::remove_listener`].
    pub fn add_listener(&self, sink: SubscriptionSink) -> u64 {
        let key = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.listeners).push((key, sink));
        key
    }

    /// Forgets a `subscriptions/listen` stream.
    pub fn remove_listener(&self, key: u64) {
        lock(&self.listeners).retain(|(k, _)| *k != key);
    }

    /// Tells every client (session peers and listen streams) that a list changed.
    pub async fn broadcast_list_changed(&self, what: Changed) {
        for peer in self.fronts() {
            let _ = match what {
                Changed::Tools => peer.notify_tool_list_changed().await,
                Changed::Prompts => peer.notify_prompt_list_changed().await,
                Changed::Resources => peer.notify_resource_list_changed().await,
            };
        }
        let sinks: Vec<(u64, SubscriptionSink)> = lock(&self.listeners).clone();
        for (key, sink) in sinks {
            let sent = match what {
                Changed::Tools => sink.notify_tool_list_changed().await,
                Changed::Prompts => sink.notify_prompt_list_changed().await,
                Changed::Resources => sink.notify_resource_list_changed().await,
            };
            if let Err(SubscriptionSendError::SubscriptionClosed) = sent {
                self.remove_listener(key);
            }
        }
    }
}

/// Answers `request` itself when the client did not declare the capability it needs
/// (`caps`: what the client declared, `None` when unknown): sampling and elicitation are
/// refused, roots are empty. Otherwise hands it back, for the client to answer.
pub fn unless_declared(caps: Option<&ClientCapabilities>, request: UpRequest) -> Option<UpRequest> {
    let refuse = |what: &str| {
        McpError::invalid_request(
            format!(
                "the connected client does not offer {what} (it did not declare the capability)"
            ),
            None,
        )
    };
    match request {
        UpRequest::Sample(_, reply) if caps.is_some_and(|c| c.sampling.is_none()) => {
            let _ = reply.send(Err(refuse("sampling")));
            None
        }
        UpRequest::Elicit(_, reply) if caps.is_some_and(|c| c.elicitation.is_none()) => {
            let _ = reply.send(Err(refuse("elicitation")));
            None
        }
        UpRequest::Roots(reply) if caps.is_none_or(|c| c.roots.is_none()) => {
            let _ = reply.send(Ok(ListRootsResult::default()));
            None
        }
        other => Some(other),
    }
}

/// Answers one up-request by asking `client`, from the calling task.
pub async fn answer(client: &Peer<RoleServer>, request: UpRequest) {
    let caps = client.peer_info().map(|i| i.capabilities.clone());
    let Some(request) = unless_declared(caps.as_ref(), request) else {
        return;
    };
    let forward = |what: &str, e: rmcp::service::ServiceError| match e {
        rmcp::service::ServiceError::McpError(e) => e,
        other => McpError::internal_error(
            format!("polyclaw could not forward the {what} request to its client: {other}"),
            None,
        ),
    };
    match request {
        UpRequest::Sample(params, reply) => {
            let result = client
                .create_message(params)
                .await
                .map_err(|e| forward("sampling", e));
            let _ = reply.send(result);
        }
        UpRequest::Elicit(params, reply) => {
            let result = client
                .create_elicitation(params)
                .await
                .map_err(|e| forward("elicitation", e));
            let _ = reply.send(result);
        }
        UpRequest::Roots(reply) => {
            let result = client.list_roots().await.map_err(|e| forward("roots", e));
            let _ = reply.send(result);
        }
    }
}

/// Takes the client's JSON answer to an up-request sent out as JSON-RPC.
pub type WireAnswer = Box<dyn FnOnce(Result<serde_json::Value, McpError>) + Send>;

impl UpRequest {
    /// The request as JSON-RPC `method` and `params`, and what takes the client's answer (a
    /// result that does not read as the method's result is an invalid-params error for the
    /// server). `None` when the params cannot be written as JSON: the server got that error.
    pub fn into_wire(self) -> Option<(&'static str, serde_json::Value, WireAnswer)> {
        fn taker<T: serde::de::DeserializeOwned + Send + 'static>(
            method: &'static str,
            reply: oneshot::Sender<Result<T, McpError>>,
        ) -> WireAnswer {
            Box::new(move |answer| {
                let typed = answer.and_then(|v| {
                    serde_json::from_value::<T>(v).map_err(|e| {
                        McpError::invalid_params(
                            format!("the client's answer to {method} does not read as one: {e}"),
                            None,
                        )
                    })
                });
                let _ = reply.send(typed);
            })
        }
        fn params<P: serde::Serialize, T>(
            params: &P,
            reply: oneshot::Sender<Result<T, McpError>>,
        ) -> Option<(serde_json::Value, oneshot::Sender<Result<T, McpError>>)> {
            match serde_json::to_value(params) {
                Ok(v) => Some((v, reply)),
                Err(e) => {
                    let _ = reply.send(Err(McpError::internal_error(
                        format!("polyclaw could not write the request as JSON: {e}"),
                        None,
                    )));
                    None
                }
            }
        }
        match self {
            Self::Sample(p, reply) => {
                let (p, reply) = params(&p, reply)?;
                let method = "sampling/createMessage";
                Some((method, p, taker(method, reply)))
            }
            Self::Elicit(p, reply) => {
                let (p, reply) = params(&p, reply)?;
                let method = "elicitation/create";
                Some((method, p, taker(method, reply)))
            }
            Self::Roots(reply) => {
                let method = "roots/list";
                Some((method, serde_json::json!({}), taker(method, reply)))
            }
        }
    }
}
