//! The rmcp `ServerHandler`: one tool per manifest entry; a call checks the
//! arguments, runs the command and reports stdout as text plus
//! `{exit_code, stdout, stderr, timed_out, truncated}` as structured content.

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    handler::server::tool::schema_for_output,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
        Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::Serialize;

use crate::{
    manifest::{Manifest, ToolDef},
    run::{self, Ending, Limits},
};

/// Structured content of every call (also the tools' output schema).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecOutput {
    /// The exit code; null when the command was killed by a signal, timed
    /// out or was cancelled.
    pub exit_code: Option<i32>,
    /// Standard output (UTF-8, invalid bytes replaced), capped.
    pub stdout: String,
    /// Standard error (UTF-8, invalid bytes replaced), capped.
    pub stderr: String,
    /// Whether the command was killed after its timeout.
    pub timed_out: bool,
    /// Whether stdout or stderr went over the cap and was cut.
    pub truncated: bool,
}

/// The exec server: one per session, sharing the manifest.
#[derive(Debug, Clone)]
pub struct ExecServer {
    manifest: Arc<Manifest>,
    tools: Arc<Vec<Tool>>,
}

impl ExecServer {
    pub fn new(manifest: Manifest) -> Self {
        let output = schema_for_output::<ExecOutput>();
        let tools = manifest
            .tools
            .iter()
            .map(|def| {
                Tool::new(
                    def.name.clone(),
                    def.description.clone(),
                    Arc::new(def.input_schema()),
                )
                .with_raw_output_schema(output.clone())
                .with_annotations(
                    ToolAnnotations::new()
                        .read_only(def.read_only)
                        .destructive(!def.read_only),
                )
            })
            .collect();
        Self {
            manifest: Arc::new(manifest),
            tools: Arc::new(tools),
        }
    }
}

fn error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Runs `def` with `arguments` and builds the result.
pub async fn call(
    def: &ToolDef,
    arguments: &rmcp::model::JsonObject,
    cancel: &tokio_util::sync::CancellationToken,
) -> CallToolResult {
    let invocation = match def.invocation(arguments) {
        Ok(invocation) => invocation,
        Err(message) => return error(message),
    };
    let limits = Limits {
        timeout: def.timeout,
        max_output: def.max_output,
        cwd: def.cwd.as_deref(),
    };
    let output = match run::run(&invocation, &limits, cancel).await {
        Ok(output) => output,
        Err(message) => return error(message),
    };
    let (exit_code, status) = match output.ending {
        Ending::Exited(0) => (Some(0), None),
        Ending::Exited(code) => (Some(code), Some(format!("exit code {code}"))),
        Ending::Signaled(signal) => (None, Some(format!("killed by signal {signal}"))),
        Ending::TimedOut => (
            None,
            Some(format!(
                "timed out after {} s: the process group was killed",
                def.timeout.as_secs()
            )),
        ),
        Ending::Cancelled => (
            None,
            Some("cancelled: the process group was killed".to_owned()),
        ),
    };
    let mut content = vec![ContentBlock::text(output.stdout.clone())];
    let mut notes = Vec::new();
    if let Some(status) = &status {
        notes.push(status.clone());
    }
    if output.truncated {
        notes.push(format!("output cut at {} bytes per stream", def.max_output));
    }
    if !output.stderr.is_empty() {
        notes.push(format!("stderr:\n{}", output.stderr));
    }
    if !notes.is_empty() {
        content.push(ContentBlock::text(notes.join("\n")));
    }
    let structured = ExecOutput {
        exit_code,
        stdout: output.stdout,
        stderr: output.stderr,
        timed_out: output.ending == Ending::TimedOut,
        truncated: output.truncated,
    };
    let mut result = if status.is_some() {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = serde_json::to_value(&structured).ok();
    result
}

impl ServerHandler for ExecServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        let config = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            self.manifest.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        match &self.manifest.instructions {
            Some(instructions) => config.with_instructions(instructions.clone()),
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
        let Some(def) = self.manifest.tool(&request.name) else {
            let names: Vec<&str> = self
                .manifest
                .tools
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {}: the tools are {}",
                    request.name,
                    names.join(", ")
                ),
                None,
            ));
        };
        let arguments = request.arguments.unwrap_or_default();
        Ok(call(def, &arguments, &context.ct).await.into())
    }
}
