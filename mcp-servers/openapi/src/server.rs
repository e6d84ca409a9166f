//! The rmcp `ServerHandler`: one tool per operation of the document; a call
//! checks the arguments, makes the HTTP request and returns the response.

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
    },
    service::RequestContext,
};

use crate::{
    call::{Api, error},
    config::Config,
};

/// The OpenAPI server: one per session, sharing the config and the client.
#[derive(Debug, Clone)]
pub struct OpenApiServer {
    config: Arc<Config>,
    tools: Arc<Vec<Tool>>,
    api: Api,
}

impl OpenApiServer {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let api = Api::new(&config.base_url, config.timeout)?;
        let tools = config
            .operations
            .iter()
            .map(|op| {
                let mut annotations = ToolAnnotations::new().open_world(true);
                if op.read_only {
                    annotations = annotations.read_only(true);
                }
                if op.destructive {
                    annotations = annotations.destructive(true);
                }
                Tool::new(
                    op.tool.clone(),
                    op.description.clone(),
                    Arc::new(op.input_schema.clone()),
                )
                .with_annotations(annotations)
            })
            .collect();
        Ok(Self {
            config: Arc::new(config),
            tools: Arc::new(tools),
            api,
        })
    }
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        let config = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            self.config.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        match &self.config.description {
            Some(description) => config.with_instructions(description.clone()),
            None => config,
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|tool| tool.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(operation) = self.config.operation(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {}: the tools are {}",
                    request.name,
                    self.config.tool_names().join(", ")
                ),
                None,
            ));
        };
        let arguments = request.arguments.unwrap_or_default();
        let result = tokio::select! {
            result = self.api.call(operation, &arguments) => result,
            () = context.ct.cancelled() => error(format!("{}: cancelled", operation.label())),
        };
        Ok(result.into())
    }
}
