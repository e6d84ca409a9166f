//! The rmcp `ServerHandler`: the one tool, `request`.

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    handler::server::tool::{schema_for_input, schema_for_output},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
        Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool, ToolAnnotations,
    },
    service::RequestContext,
};

use crate::request::{RequestArgs, Requester, Response, response_text};

/// The HTTP server: one per session, sharing the client.
#[derive(Debug, Clone)]
pub struct HttpServer {
    requester: Requester,
    tools: Arc<Vec<Tool>>,
}

impl HttpServer {
    pub fn new(requester: Requester) -> anyhow::Result<Self> {
        let input = schema_for_input::<RequestArgs>()
            .map_err(|err| anyhow::anyhow!("input schema of request: {err}"))?;
        let request = Tool::new(
            "request",
            format!(
                "Make an HTTP request and return status, headers and body text (at most \
                 max_bytes, default 1 MiB). Only these hosts can be reached: {}.",
                requester.allow().describe()
            ),
            input,
        )
        .with_raw_output_schema(schema_for_output::<Response>())
        .with_annotations(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .open_world(true),
        );
        Ok(Self {
            requester,
            tools: Arc::new(vec![request]),
        })
    }
}

fn error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

impl ServerHandler for HttpServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("http", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "HTTP requests to these hosts only: {}.",
                self.requester.allow().describe()
            ))
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
        if request.name != "request" {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}: the only tool is request", request.name),
                None,
            ));
        }
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let args: RequestArgs = match serde_json::from_value(arguments) {
            Ok(args) => args,
            Err(err) => return Ok(error(format!("invalid arguments: {err}")).into()),
        };
        let outcome = tokio::select! {
            outcome = self.requester.request(args) => outcome,
            () = context.ct.cancelled() => Err("cancelled".to_owned()),
        };
        let result = match outcome {
            Ok(response) => {
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(response_text(&response))]);
                result.structured_content = serde_json::to_value(&response).ok();
                result
            }
            Err(message) => error(message),
        };
        Ok(result.into())
    }
}
