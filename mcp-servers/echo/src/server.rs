//! The rmcp `ServerHandler`: capabilities, lists, and `tools/call` dispatch.
//! One `EchoServer` serves one session; they share [`Shared`].

// Logging (`logging/setLevel`) is deprecated by SEP-2577 but still served.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, ErrorData, GetPromptRequestParams,
        GetPromptResponse, InitializeRequestParams, InitializeResult, JsonObject,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
        SetLevelRequestParams, SubscriptionFilter, Tool,
    },
    service::{RequestContext, SubscriptionContext},
};
use serde::de::DeserializeOwned;

use crate::{
    catalog::names,
    client_input::{self, Outcome},
    notify, resources,
    state::Shared,
    tools,
};

/// The echo MCP server.
#[derive(Debug, Clone)]
pub struct EchoServer {
    shared: Arc<Shared>,
}

impl EchoServer {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Deserializes tool arguments (absent = `{}`); bad input is `-32602`.
fn parse<T: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<T, ErrorData> {
    serde_json::from_value(serde_json::Value::Object(arguments.unwrap_or_default()))
        .map_err(|err| ErrorData::invalid_params(format!("invalid arguments: {err}"), None))
}

fn outcome(outcome: Outcome) -> CallToolResponse {
    match outcome {
        Outcome::Done(result) => result.into(),
        Outcome::InputRequired(round) => round.into(),
    }
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        self.shared.config().clone()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        // Sessions that negotiate through `initialize` get list_changed directly.
        self.shared.register_legacy_peer(context.peer.clone());
        self.negotiate_initialize(&request)
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Accepted; the `log` tool always logs at info.
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.shared.tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared.tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let CallToolRequestParams {
            name,
            arguments,
            input_responses,
            ..
        } = request;
        let result = match name.as_ref() {
            names::ECHO => tools::echo(parse(arguments)?),
            names::ADD => tools::add(parse(arguments)?),
            names::SLEEP => tools::sleep(parse(arguments)?, &context.ct).await,
            names::CRASH => tools::crash(),
            names::PID => tools::pid(),
            names::ENV => tools::env(parse(arguments)?),
            names::FAIL => tools::fail(parse(arguments)?),
            names::FREEZE => tools::freeze(parse(arguments)?),
            names::SPEW => tools::spew(parse(arguments)?),
            names::FLAKY => tools::flaky(parse(arguments)?, &self.shared.flaky),
            names::PROGRESS => notify::progress(parse(arguments)?, &context).await,
            names::LOG => notify::log(parse(arguments)?, &self.shared, &context).await,
            names::ADD_TOOL => notify::add_tool(parse(arguments)?, &self.shared).await,
            names::SAMPLE => {
                let args = parse(arguments)?;
                let done = client_input::sample(args, input_responses.as_ref(), &context).await?;
                return Ok(outcome(done));
            }
            names::ELICIT => {
                let args = parse(arguments)?;
                let done = client_input::elicit(args, input_responses.as_ref(), &context).await?;
                return Ok(outcome(done));
            }
            other if self.shared.is_dynamic(other) => tools::dynamic(arguments),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&request.uri, self.shared.name()).map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(resources::prompts())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        resources::get_prompt(&request.name, request.arguments.as_ref()).map(Into::into)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.shared.config().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let _registered = Registered {
            shared: &self.shared,
            key: self.shared.add_subscription(context.sink().clone()),
        };
        context.cancelled().await;
        Ok(())
    }
}

/// Unregisters a subscription however `listen` ends (also when dropped).
struct Registered<'a> {
    shared: &'a Shared,
    key: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.remove_subscription(self.key);
    }
}
