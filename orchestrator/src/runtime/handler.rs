//! The client side of polyclaw's connection to one downstream server: what polyclaw does when
//! that server notifies or asks something. Notifications go up through the [`Relay`];
//! list changes trigger a refresh of the server's lists; sampling, elicitation and roots are
//! handed to the call in flight on this server, which asks its client.

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
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use tokio::sync::oneshot;

use super::downstream::{Downstream, ListKind};
use super::relay::{Relay, UpRequest};

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
    /// Sends an up-request to the call in flight on this server and waits for the answer.
    async fn ask<T>(
        &self,
        what: &str,
        make: impl FnOnce(oneshot::Sender<Result<T, McpError>>) -> UpRequest,
    ) -> Result<T, McpError> {
        let Some(caller) = self.relay.caller_of(&self.server) else {
            return Err(McpError::invalid_request(
                format!(
                    "polyclaw forwards {what} requests only while a client's call to `{}` is in flight",
                    self.server
                ),
                None,
            ));
        };
        let (tx, rx) = oneshot::channel();
        if caller.send(make(tx)).await.is_err() {
            return Err(McpError::invalid_request(
                format!("the call that {what} belonged to has ended"),
                None,
            ));
        }
        rx.await.unwrap_or_else(|_| {
            Err(McpError::internal_error(
                format!("the client's call ended before it answered the {what} request"),
                None,
            ))
        })
    }

    fn refresh(&self, kind: ListKind) {
        if let Some(ds) = self.downstream.upgrade() {
            tokio::spawn(async move { ds.refresh(kind).await });
        }
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
        self.ask("sampling", |tx| UpRequest::Sample(params, tx))
            .await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.ask("elicitation", |tx| UpRequest::Elicit(params, tx))
            .await
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        if self.relay.caller_of(&self.server).is_none() {
            return Ok(ListRootsResult::default());
        }
        self.ask("roots", UpRequest::Roots).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // Only HTTP servers get here: progress from stdio servers is taken off their stdout in
        // order by `tap`, before rmcp would hand it to a task of its own.
        self.relay.forward_progress(&self.server, params).await;
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
