//! The client side of polyclaw's connection to one downstream server: what polyclaw does when
//! that server notifies or asks something. Notifications go up through the [`Relay`];
//! list changes trigger a refresh of the server's lists; sampling and elicitation are asked of
//! the client whose call is in flight.

#![expect(
    deprecated,
    reason = "logging and roots are deprecated in 2026-07-28 but still served to older peers"
)]

use std::sync::{Arc, Weak};

use rmcp::ClientHandler;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, Implementation, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer, ServiceError};

use super::downstream::{Downstream, ListKind};
use super::relay::Relay;

/// One per downstream connection.
#[derive(Clone)]
pub struct DownstreamHandler {
    /// The server's name, for routing and logs.
    pub server: String,
    /// Routes to front-door clients.
    pub relay: Arc<Relay>,
    /// The connection this handler belongs to (weak: the connection owns the handler).
    pub downstream: Weak<Downstream>,
}

impl DownstreamHandler {
    fn caller(&self, what: &str) -> Result<rmcp::service::Peer<RoleServer>, McpError> {
        self.relay.caller_of(&self.server).ok_or_else(|| {
            McpError::invalid_request(
                format!(
                    "polyclaw can only forward {what} requests made while a client's call to `{}` is in flight",
                    self.server
                ),
                None,
            )
        })
    }

    fn refresh(&self, kind: ListKind) {
        if let Some(ds) = self.downstream.upgrade() {
            tokio::spawn(async move { ds.refresh(kind).await });
        }
    }
}

fn forward_error(what: &str, e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(
            format!("polyclaw could not forward the {what} request to its client: {other}"),
            None,
        ),
    }
}

impl ClientHandler for DownstreamHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_sampling()
                .enable_elicitation()
                .enable_roots()
                .build(),
            Implementation::new("polyclaw", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let peer = self.caller("sampling")?;
        if peer
            .peer_info()
            .is_some_and(|info| info.capabilities.sampling.is_none())
        {
            return Err(McpError::invalid_request(
                "the connected client does not offer sampling (it did not declare the capability)",
                None,
            ));
        }
        peer.create_message(params)
            .await
            .map_err(|e| forward_error("sampling", e))
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let peer = self.caller("elicitation")?;
        if peer
            .peer_info()
            .is_some_and(|info| info.capabilities.elicitation.is_none())
        {
            return Err(McpError::invalid_request(
                "the connected client does not offer elicitation (it did not declare the capability)",
                None,
            ));
        }
        peer.create_elicitation(params)
            .await
            .map_err(|e| forward_error("elicitation", e))
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        match self.relay.caller_of(&self.server) {
            Some(peer)
                if peer
                    .peer_info()
                    .is_some_and(|i| i.capabilities.roots.is_some()) =>
            {
                peer.list_roots()
                    .await
                    .map_err(|e| forward_error("roots", e))
            }
            _ => Ok(ListRootsResult::default()),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some((peer, token)) = self.relay.progress_target(&params.progress_token) {
            let mut params = params;
            params.progress_token = token;
            if let Err(e) = peer.notify_progress(params).await {
                tracing::debug!(server = %self.server, "progress not delivered: {e}");
            }
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        params.logger = Some(match params.logger.take() {
            Some(l) => format!("{}/{l}", self.server),
            None => self.server.clone(),
        });
        for peer in self.relay.fronts() {
            let _ = peer.notify_logging_message(params.clone()).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        for peer in self.relay.fronts() {
            let _ = peer.notify_resource_updated(params.clone()).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh(ListKind::Tools);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh(ListKind::Prompts);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh(ListKind::Resources);
    }
}
