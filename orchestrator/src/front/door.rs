//! The front door: the one MCP server that clients connect to. It answers lists from the
//! catalog (plus polyclaw's own tools), routes calls, reads and prompts to the owning server,
//! and turns every internal error into one JSON-RPC error or tool error whose message says
//! what to do. One `FrontDoor` is made per client session; all share the [`Hub`].

#![expect(
    deprecated,
    reason = "logging and resources/subscribe are deprecated in 2026-07-28 but still served to older clients"
)]

use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::ContentBlock as Content;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, Reference, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::model::{
    ClientRequest, GetPromptRequest, ProtocolVersion, ReadResourceRequest, ResultType,
    ServerResult, SubscriptionFilter,
};
use rmcp::service::SubscriptionContext;
use rmcp::service::{
    NotificationContext, Peer, RequestContext, RoleClient, RoleServer, ServiceError,
};

use crate::config::Expose;
use crate::error::Error;
use crate::runtime::downstream::START_TIMEOUT;

use super::http_raw::HttpSessions;
use super::own_tools;
use crate::hub::{CallContext, Hub, LIST_WAIT};

/// The MCP server handler of the front door.
#[derive(Clone)]
pub struct FrontDoor {
    hub: Arc<Hub>,
    session: Arc<Session>,
}

/// A client session: when the last handle to it goes, the session's private instances of
/// `per_client` servers stop, and the HTTP front's raw route forgets it.
struct Session {
    id: u64,
    hub: std::sync::Weak<Hub>,
    /// The HTTP front's sessions, when this one is served over HTTP.
    http: Option<Arc<HttpSessions>>,
    /// Its `Mcp-Session-Id`, once the client has initialized.
    http_id: std::sync::OnceLock<String>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(sessions), Some(id)) = (&self.http, self.http_id.get()) {
            sessions.remove(id);
        }
        if let Some(hub) = self.hub.upgrade() {
            hub.close_session(self.id);
        }
    }
}

impl FrontDoor {
    /// A handler for one client session.
    #[must_use]
    pub fn new(hub: Arc<Hub>) -> Self {
        Self::with_sessions(hub, None)
    }

    /// A handler for one session of the HTTP front, which records it in `sessions` for the
    /// raw route once the client has initialized.
    #[must_use]
    pub fn with_sessions(hub: Arc<Hub>, sessions: Option<Arc<HttpSessions>>) -> Self {
        let session = Arc::new(Session {
            id: hub.open_session(),
            hub: Arc::downgrade(&hub),
            http: sessions,
            http_id: std::sync::OnceLock::new(),
        });
        Self { hub, session }
    }

    /// What a client needs to reach back: its peer, progress token, cancellation, its
    /// session and (for 2026-07-28 clients) the request metadata to pass on.
    fn call_context(&self, context: &RequestContext<RoleServer>) -> CallContext {
        let inline = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        CallContext {
            client: Some(context.peer.clone()),
            client_token: context.meta.get_progress_token(),
            cancel: context.ct.clone(),
            inline_meta: inline.then(|| context.meta.clone()),
            session: (!inline).then_some(self.session.id),
            events: None,
            token_id: context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get(axum::http::header::AUTHORIZATION))
                .and_then(|v| v.to_str().ok())
                .and_then(crate::hub::audit::token_id),
            ..CallContext::default()
        }
    }

    async fn owner_peer(&self, server: &str) -> Result<Peer<RoleClient>, McpError> {
        let ds = self.hub.server(server).ok_or_else(|| {
            McpError::invalid_params(Error::UnknownServer(server.into()).to_string(), None)
        })?;
        ds.peer(START_TIMEOUT)
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    async fn resource_owner(&self, uri: &str) -> Result<String, McpError> {
        if let Some(s) = self.hub.catalog().resource_owner(uri) {
            return Ok(s.to_string());
        }
        self.hub.warm_up(LIST_WAIT).await;
        self.hub
            .catalog()
            .resource_owner(uri)
            .map(str::to_string)
            .ok_or_else(|| {
                McpError::resource_not_found(
                    format!(
                        "no server offers the resource `{uri}`; resources/list shows what exists"
                    ),
                    None,
                )
            })
    }
}

/// A JSON-RPC error for a failed non-tool request: downstream errors pass through unchanged.
fn rpc_error(e: Error) -> McpError {
    match e {
        Error::Remote { error, .. } => error,
        other => McpError::internal_error(other.to_string(), None),
    }
}

/// How a failed tool call reaches the client: a downstream JSON-RPC error passes through
/// unchanged (unknown tool, bad arguments, bad request state); an unknown tool is invalid
/// params; anything else (down, crashed, timed out) is a tool error the model can read.
fn tool_error(name: &str, e: Error) -> Result<CallToolResponse, McpError> {
    match e {
        Error::Remote { error, .. } => Err(error),
        Error::InputRequired(r) => Ok(CallToolResponse::InputRequired(*r)),
        e @ Error::UnknownTool(_) => Err(McpError::invalid_params(e.to_string(), None)),
        e => {
            tracing::warn!(tool = %name, "call failed: {e}");
            Ok(CallToolResult::error(vec![Content::text(e.to_string())]).into())
        }
    }
}

fn relay_error(server: &str, e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(
            format!("server `{server}` failed the request: {other}"),
            None,
        ),
    }
}

impl ServerHandler for FrontDoor {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_logging()
            .enable_completions()
            .build();
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("polyclaw", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "polyclaw serves the tools of many MCP servers as one. Tool names are \
                 `<server>__<tool>`. Use polyclaw__find_tools to search them by words and \
                 polyclaw__list_servers to see which servers are up.",
            )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(sessions) = &self.session.http
            && let Some(id) = context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get("mcp-session-id"))
                .and_then(|v| v.to_str().ok())
            && self.session.http_id.set(id.to_string()).is_ok()
        {
            let token_id = context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.headers.get(axum::http::header::AUTHORIZATION))
                .and_then(|v| v.to_str().ok())
                .and_then(crate::hub::audit::token_id);
            sessions.insert(id, self.session.id, context.peer.clone(), token_id);
        }
        self.hub.relay.add_front(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let key = self.hub.relay.add_listener(context.sink().clone());
        context.cancelled().await;
        self.hub.relay.remove_listener(key);
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut tools = own_tools::definitions();
        if self.hub.front.expose == Expose::All {
            self.hub.warm_up(LIST_WAIT).await;
            tools.extend(self.hub.catalog().tools.iter().cloned());
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        if own_tools::is_own(name) {
            return own_tools::definitions()
                .into_iter()
                .find(|t| t.name == name);
        }
        self.hub.catalog().tool(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let mut ctx = self.call_context(&context);
        if ctx.inline_meta.is_some() {
            ctx.retry = Some((
                request.input_responses.clone(),
                request.request_state.clone(),
            ));
        }
        let name = request.name.to_string();
        if own_tools::is_own(&name) {
            return own_tools::call(
                &self.hub,
                &name,
                request.arguments.unwrap_or_default(),
                &ctx,
            )
            .await;
        }
        let retry = Some((request.input_responses, request.request_state));
        match self
            .hub
            .call_tool_response(&name, request.arguments, retry, &ctx)
            .await
        {
            Ok(CallToolResponse::Complete(mut result)) => {
                // Results relayed from older-era servers carry no resultType; 2026-07-28 clients
                // require it (rmcp strips it again for older clients).
                result.result_type = Some(ResultType::COMPLETE);
                Ok(result.into())
            }
            Ok(other) => Ok(other),
            Err(e) => tool_error(&name, e),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.hub.warm_up(LIST_WAIT).await;
        Ok(ListPromptsResult::with_all_items(
            self.hub.catalog().prompts.clone(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let mut route = self.hub.catalog().prompt_route(&request.name).cloned();
        if route.is_none() {
            self.hub.warm_up(LIST_WAIT).await;
            route = self.hub.catalog().prompt_route(&request.name).cloned();
        }
        let Some(route) = route else {
            return Err(McpError::invalid_params(
                format!(
                    "no prompt named `{}`; prompts/list shows what exists",
                    request.name
                ),
                None,
            ));
        };
        let mut params = GetPromptRequestParams::new(route.name.clone());
        params.arguments = request.arguments;
        params.input_responses = request.input_responses;
        params.request_state = request.request_state;
        let ask = ClientRequest::GetPromptRequest(GetPromptRequest::new(params));
        match self
            .hub
            .request(&route.server, ask, &self.call_context(&context))
            .await
        {
            Ok(ServerResult::GetPromptResult(mut r)) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(GetPromptResponse::Complete(r))
            }
            Ok(ServerResult::InputRequiredResult(r)) => Ok(GetPromptResponse::InputRequired(r)),
            Ok(_) => Err(McpError::internal_error(
                format!(
                    "server `{}` answered prompts/get with something else",
                    route.server
                ),
                None,
            )),
            Err(e) => Err(rpc_error(e)),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.hub.warm_up(LIST_WAIT).await;
        Ok(ListResourcesResult::with_all_items(
            self.hub.catalog().resources.clone(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.hub.warm_up(LIST_WAIT).await;
        Ok(ListResourceTemplatesResult::with_all_items(
            self.hub.catalog().templates.clone(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let server = self.resource_owner(&request.uri).await?;
        let mut params = ReadResourceRequestParams::new(request.uri);
        params.input_responses = request.input_responses;
        params.request_state = request.request_state;
        let ask = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params));
        match self
            .hub
            .request(&server, ask, &self.call_context(&context))
            .await
        {
            Ok(ServerResult::ReadResourceResult(mut r)) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(ReadResourceResponse::Complete(r))
            }
            Ok(ServerResult::InputRequiredResult(r)) => Ok(ReadResourceResponse::InputRequired(r)),
            Ok(_) => Err(McpError::internal_error(
                format!("server `{server}` answered resources/read with something else"),
                None,
            )),
            Err(e) => Err(rpc_error(e)),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let server = self.resource_owner(&request.uri).await?;
        let peer = self.owner_peer(&server).await?;
        peer.subscribe(SubscribeRequestParams::new(request.uri))
            .await
            .map_err(|e| relay_error(&server, e))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let server = self.resource_owner(&request.uri).await?;
        let peer = self.owner_peer(&server).await?;
        peer.unsubscribe(UnsubscribeRequestParams::new(request.uri))
            .await
            .map_err(|e| relay_error(&server, e))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let mut forwarded = request.clone();
        forwarded.meta = None;
        let server = match &request.r#ref {
            Reference::Prompt(p) => {
                let route = self.hub.catalog().prompt_route(&p.name).cloned();
                let Some(route) = route else {
                    return Ok(CompleteResult::default());
                };
                if let Reference::Prompt(fp) = &mut forwarded.r#ref {
                    fp.name.clone_from(&route.name);
                }
                route.server
            }
            Reference::Resource(r) => match self.hub.catalog().resource_owner(&r.uri) {
                Some(s) => s.to_string(),
                None => return Ok(CompleteResult::default()),
            },
            _ => return Ok(CompleteResult::default()),
        };
        let peer = self.owner_peer(&server).await?;
        if peer
            .peer_info()
            .is_some_and(|i| i.capabilities.completions.is_none())
        {
            return Ok(CompleteResult::default());
        }
        peer.complete(forwarded)
            .await
            .map(|mut r| {
                r.result_type = Some(ResultType::COMPLETE);
                r
            })
            .map_err(|e| relay_error(&server, e))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        for ds in self.hub.servers() {
            if let crate::runtime::Status::Ready {
                peer, capabilities, ..
            } = ds.status()
                && capabilities.logging.is_some()
            {
                let _ = peer
                    .set_level(SetLevelRequestParams::new(request.level))
                    .await;
            }
        }
        Ok(())
    }
}
