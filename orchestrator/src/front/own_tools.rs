//! polyclaw's own tools, served under the server name `polyclaw`: list, add and remove
//! servers at runtime, search tools by words, and call any tool by name (so a client can keep
//! a small tool surface with `expose = "search"`).

use std::sync::Arc;

use rmcp::ErrorData as McpError;
use rmcp::model::ContentBlock as Content;
use rmcp::model::{CallToolResponse, CallToolResult, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::config::{Interpolator, RawServer};
use crate::error::{ConfigIssue, Error};
use crate::registry::names::{OWN_SERVER, qualify};
use crate::runtime::Status;

use crate::hub::guard::ToolCall;
use crate::hub::{CallContext, Hub, Origin};
use crate::registry::policy::Hints;

/// Names of the own tools (without prefix).
pub const LIST_SERVERS: &str = "list_servers";
/// See [`LIST_SERVERS`].
pub const ADD_SERVER: &str = "add_server";
/// See [`LIST_SERVERS`].
pub const REMOVE_SERVER: &str = "remove_server";
/// See [`LIST_SERVERS`].
pub const FIND_TOOLS: &str = "find_tools";
/// See [`LIST_SERVERS`].
pub const CALL_TOOL: &str = "call_tool";
/// See [`LIST_SERVERS`].
pub const PLAN: &str = "plan";
/// See [`LIST_SERVERS`].
pub const RUN_PLAN: &str = "run_plan";
/// See [`LIST_SERVERS`].
pub const ACHIEVE: &str = "achieve";
/// See [`LIST_SERVERS`].
pub const CREATE_SERVER: &str = "create_server";

const ALL: [&str; 9] = [
    LIST_SERVERS,
    ADD_SERVER,
    REMOVE_SERVER,
    FIND_TOOLS,
    CALL_TOOL,
    PLAN,
    RUN_PLAN,
    ACHIEVE,
    CREATE_SERVER,
];

fn schema(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tool(name: &str, description: &str, input: Value) -> Tool {
    let tool = Tool::new(
        qualify(OWN_SERVER, name),
        description.to_string(),
        schema(input),
    );
    let annotations = match name {
        LIST_SERVERS | FIND_TOOLS | PLAN => Some(ToolAnnotations::new().read_only(true)),
        ADD_SERVER | CREATE_SERVER => Some(
            ToolAnnotations::new()
                .read_only(false)
                .destructive(false)
                .open_world(true),
        ),
        REMOVE_SERVER => Some(ToolAnnotations::new().read_only(false).destructive(true)),
        // call_tool, run_plan, achieve: whatever the tools they run do.
        _ => None,
    };
    match annotations {
        Some(a) => tool.with_annotations(a),
        None => tool,
    }
}

/// The input of the tools that take a goal in words (`plan`, `achieve`).
fn goal_input() -> Value {
    json!({
        "type": "object",
        "properties": {"goal": {"type": "string", "description": "What to achieve, in words"}},
        "required": ["goal"],
        "additionalProperties": false
    })
}

/// The own tools' definitions, with exposed names.
#[must_use]
pub fn definitions() -> Vec<Tool> {
    vec![
        tool(
            LIST_SERVERS,
            "List the MCP servers behind polyclaw with their transport, status, tool count and last error.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
        ),
        tool(
            ADD_SERVER,
            "Add an MCP server to the running mesh (not saved to polyclaw.toml). Give `image` (+`args`, `env`) for a server in a hardened container, `url` (+`headers`) for a remote Streamable HTTP server, or `command` (+`args`, `env`) for a local stdio process (only commands polyclaw's policy lists in `host_commands`). polyclaw's policy asks a person before adding one, by default. Clients are notified that the tool list changed.",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Server name: letters, digits, - and _; becomes the tool prefix"},
                    "image": {"type": "string", "description": "Container image of a stdio MCP server (built locally; runs hardened: no network, read-only, limits)"},
                    "command": {"type": "string", "description": "Program to run on the host (stdio server); only commands in polyclaw's `[policy] host_commands`"},
                    "args": {"type": "array", "items": {"type": "string"}, "description": "Program arguments"},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables"},
                    "url": {"type": "string", "description": "Streamable HTTP endpoint of a remote server"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "HTTP headers for url"},
                    "prefix": {"type": "string", "description": "Tool name prefix; defaults to the name"},
                    "timeout": {"type": "number", "description": "Seconds one request may take"}
                },
                "required": ["name"],
                "additionalProperties": false
            }),
        ),
        tool(
            REMOVE_SERVER,
            "Stop and remove a server from the running mesh. A generated server is removed for good: its registration and its image go too. Clients are notified that the tool list changed.",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "The server's name"}},
                "required": ["name"],
                "additionalProperties": false
            }),
        ),
        tool(
            FIND_TOOLS,
            "Search every tool behind polyclaw by words (matched against names, descriptions and parameter names). Returns the best matches with their input schemas; call one with polyclaw__call_tool or directly by name.",
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What the tool should do, in words"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many results (default 10)"}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        ),
        tool(
            PLAN,
            "Turn a goal into a validated plan (a task graph over the tools behind polyclaw), written by the client's model through sampling or by the configured [llm] endpoint. The plan is returned, not run.",
            goal_input(),
        ),
        tool(
            RUN_PLAN,
            "Validate and run a plan: independent steps run in parallel, results pass between steps through ${steps.ID.result...} bindings, failed steps are retried, continued or replanned as each says. Returns the run report (per step: status, timing, result or error). `polyclaw plan schema` prints the plan format.",
            json!({
                "type": "object",
                "properties": {"plan": {"description": "The plan: an object with `steps` (or its JSON/YAML text)", "type": ["object", "string"]}},
                "required": ["plan"],
                "additionalProperties": false
            }),
        ),
        tool(
            ACHIEVE,
            "Plan and run a goal in one call: a model writes the plan, polyclaw validates and runs it, and replans failed steps marked `on_error: replan`.",
            goal_input(),
        ),
        tool(
            CREATE_SERVER,
            "Make a new MCP server from a template and a spec you write, when no server offers what is needed. polyclaw validates the spec, builds an image, runs it isolated (no secrets, limits; no network except for `openapi`), checks that tools/list matches the spec and that every example gives its expected text, then registers it (kept across restarts) and adds it to this mesh. Templates: `python` (tool bodies are Python functions, standard library; spec: name, description, imports, code, tools[name, description, input_schema, body], examples[tool, arguments, expect, is_error]); `command` (tools run static programs such as /bin/busybox with argument templates; spec: name, description, binaries, tools[name, description, input_schema, command], examples); `openapi` (every operation of an OpenAPI 3 document becomes a tool that calls the API; spec: name, description, base_url, document, examples). On failure nothing is kept and the error names the stage and why.",
            json!({
                "type": "object",
                "properties": {
                    "template": {"type": "string", "description": "Template name: `python`, `command` or `openapi` (`polyclaw templates list` shows them with their spec schemas)"},
                    "spec": {"type": ["object", "string"], "description": "The spec: an object (or its JSON/YAML text) that fits the template's schema"}
                },
                "required": ["template", "spec"],
                "additionalProperties": false
            }),
        ),
        tool(
            CALL_TOOL,
            "Call any tool behind polyclaw by its full name (as returned by polyclaw__find_tools).",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Full tool name, e.g. time__get_current_time"},
                    "arguments": {"type": "object", "description": "The tool's arguments"}
                },
                "required": ["name"],
                "additionalProperties": false
            }),
        ),
    ]
}

/// Whether an exposed name is one of polyclaw's own tools.
#[must_use]
pub fn is_own(exposed: &str) -> bool {
    exposed
        .strip_prefix(OWN_SERVER)
        .and_then(|r| r.strip_prefix(crate::registry::names::SEPARATOR))
        .is_some_and(|n| ALL.contains(&n))
}

fn structured(v: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&v).unwrap_or_default();
    let mut r = CallToolResult::success(vec![Content::text(text)]);
    r.structured_content = Some(v);
    r
}

fn bad_args(message: impl Into<String>) -> McpError {
    McpError::invalid_params(message.into(), None)
}

fn str_arg<'a>(args: &'a JsonObject, key: &str) -> Result<&'a str, McpError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_args(format!("`{key}` is required and must be a string")))
}

/// The own tools that only run other tools (each of which the guardrails check): to the
/// policy they are read-only, so they never ask by themselves.
const DELEGATING: [&str; 3] = [CALL_TOOL, RUN_PLAN, ACHIEVE];

/// What the policy reads of an own tool: its annotations (a delegating tool counts as
/// read-only).
fn hints(exposed: &str) -> Hints {
    let name = exposed
        .rsplit(crate::registry::names::SEPARATOR)
        .next()
        .unwrap_or_default();
    if DELEGATING.contains(&name) {
        return Hints {
            read_only: Some(true),
            ..Hints::default()
        };
    }
    definitions()
        .iter()
        .find(|t| t.name == exposed)
        .map(|t| Hints::of(t.annotations.as_ref()))
        .unwrap_or_default()
}

/// Runs an own tool under the guardrails (a client's `add_server` asks by default). Errors
/// that the model should read become error results; malformed arguments are JSON-RPC
/// invalid-params errors.
///
/// # Errors
/// Invalid params when the arguments do not fit the tool's schema.
pub async fn call(
    hub: &Arc<Hub>,
    exposed: &str,
    args: JsonObject,
    ctx: &CallContext,
) -> Result<CallToolResponse, McpError> {
    let arguments = serde_json::to_string(&args).unwrap_or_default();
    let guarded = ToolCall {
        server: OWN_SERVER,
        exposed,
        arguments: Some(&arguments),
        hints: hints(exposed),
    };
    let run = async { Ok(run(hub, exposed, args, ctx).await) };
    match hub.guarded(&guarded, ctx, run).await {
        Ok(result) => result.map(CallToolResponse::from),
        Err(Error::InputRequired(r)) => Ok(CallToolResponse::InputRequired(*r)),
        Err(e) => Ok(CallToolResult::error(vec![Content::text(e.to_string())]).into()),
    }
}

async fn run(
    hub: &Arc<Hub>,
    exposed: &str,
    args: JsonObject,
    ctx: &CallContext,
) -> Result<CallToolResult, McpError> {
    let name = exposed
        .rsplit(crate::registry::names::SEPARATOR)
        .next()
        .unwrap_or_default();
    match name {
        LIST_SERVERS => Ok(structured(json!({"servers": list_servers(hub)}))),
        FIND_TOOLS => {
            let query = str_arg(&args, "query")?;
            let limit = match args.get("limit") {
                None => 10,
                Some(v) => v
                    .as_u64()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad_args("`limit` must be an integer from 1 to 100"))?,
            };
            hub.warm_up(crate::hub::LIST_WAIT).await;
            let catalog = hub.catalog();
            let mut hits: Vec<Value> = catalog
                .search(query, usize::try_from(limit).unwrap_or(10))
                .into_iter()
                .map(|(t, score)| {
                    json!({
                        "name": t.name,
                        "description": t.description,
                        "inputSchema": t.input_schema.as_ref(),
                        "score": (score * 1000.0).round() / 1000.0,
                    })
                })
                .collect();
            // Own tools are searchable too.
            let own = definitions();
            let own_docs: Vec<_> = own
                .iter()
                .map(|t| polyclaw_planner::search::ToolDoc {
                    name: t.name.to_string(),
                    description: t.description.as_deref().unwrap_or_default().to_string(),
                    params: Vec::new(),
                })
                .collect();
            let own_index = polyclaw_planner::search::ToolIndex::build(&own_docs);
            for hit in own_index.search(query, 2) {
                if hit.score > 1.0
                    && let Some(t) = own.get(hit.index)
                {
                    hits.push(json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema.as_ref(), "score": 0.0}));
                }
            }
            Ok(structured(json!({"query": query, "tools": hits})))
        }
        CALL_TOOL => {
            let target = str_arg(&args, "name")?;
            if is_own(target) {
                return Err(bad_args(
                    "polyclaw__call_tool calls downstream tools; call polyclaw's own tools directly",
                ));
            }
            let arguments = match args.get("arguments") {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(o.clone()),
                Some(_) => return Err(bad_args("`arguments` must be an object")),
            };
            match hub.call_tool(target, arguments, ctx).await {
                Ok(r) => Ok(r),
                Err(Error::UnknownTool(t)) => Err(bad_args(Error::UnknownTool(t).to_string())),
                Err(e) => Ok(CallToolResult::error(vec![Content::text(e.to_string())])),
            }
        }
        ADD_SERVER => {
            let name = str_arg(&args, "name")?.to_string();
            let mut raw_args = args.clone();
            raw_args.remove("name");
            let raw: RawServer = serde_json::from_value(Value::Object(raw_args))
                .map_err(|e| bad_args(format!("invalid server definition: {e}")))?;
            if let (Some(command), Origin::Client) = (&raw.command, ctx.origin)
                && !hub.policy.allows_host_command(command)
            {
                let allowed = if hub.policy.host_commands.is_empty() {
                    "none".to_string()
                } else {
                    hub.policy.host_commands.join(", ")
                };
                return Ok(CallToolResult::error(vec![Content::text(format!(
                    "polyclaw does not let a client run `{command}` on the host (commands clients may run: {allowed}). \
                     Give an `image` instead (it runs in a hardened container) or a `url`; or ask the user to add \
                     `{command}` to `[policy] host_commands` in polyclaw.toml"
                ))]));
            }
            let mut issues: Vec<ConfigIssue> = Vec::new();
            let vars = match ctx.origin {
                Origin::Client => Interpolator::for_clients(),
                Origin::Operator => Interpolator::from_env(),
            };
            let Some(spec) = crate::config::validate_raw(&name, &raw, &vars, &mut issues) else {
                let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                return Ok(CallToolResult::error(vec![Content::text(format!(
                    "the server definition has problems:\n{}",
                    list.join("\n")
                ))]));
            };
            match hub.add_server(spec).await {
                Ok(ds) => {
                    hub.rebuild();
                    let tools: Vec<String> = hub
                        .catalog()
                        .tools
                        .iter()
                        .filter(|t| {
                            hub.catalog()
                                .tool_route(&t.name)
                                .is_some_and(|r| r.server == ds.spec.name)
                        })
                        .map(|t| t.name.to_string())
                        .collect();
                    Ok(structured(json!({"added": ds.spec.name, "tools": tools})))
                }
                Err(e @ Error::DuplicateServer(_)) => {
                    Ok(CallToolResult::error(vec![Content::text(e.to_string())]))
                }
                Err(e) => Ok(CallToolResult::error(vec![Content::text(format!(
                    "the server was added but did not start: {e}. Fix it and call polyclaw__remove_server then add it again."
                ))])),
            }
        }
        REMOVE_SERVER => {
            let name = str_arg(&args, "name")?;
            let state = hub.plans.state_dir();
            // A generated server goes for good: registration, container, image.
            match crate::generate::remove::remove(&state, name, Some(hub)).await {
                Ok(Some(removal)) => {
                    return Ok(structured(json!({
                        "removed": name,
                        "generated": true,
                        "image": removal.image,
                        "image_removed": removal.image_removed,
                        "warnings": removal.warnings,
                    })));
                }
                Ok(None) => {}
                Err(e) => {
                    return Ok(CallToolResult::error(vec![Content::text(format!(
                        "removing the generated server `{name}` failed: {e}"
                    ))]));
                }
            }
            match hub.remove_server(name).await {
                Ok(()) => Ok(structured(json!({"removed": name}))),
                Err(e) => Ok(CallToolResult::error(vec![Content::text(e.to_string())])),
            }
        }
        CREATE_SERVER => {
            let template = str_arg(&args, "template")?;
            let spec = args
                .get("spec")
                .cloned()
                .ok_or_else(|| bad_args("`spec` is required: the server's spec (an object)"))?;
            Ok(crate::front::generate_tools::create_server(hub, template, spec, ctx).await)
        }
        PLAN => Ok(crate::front::plan_tools::plan(hub, str_arg(&args, "goal")?, ctx).await),
        ACHIEVE => Ok(crate::front::plan_tools::achieve(hub, str_arg(&args, "goal")?, ctx).await),
        RUN_PLAN => {
            let plan = args.get("plan").cloned().ok_or_else(|| {
                bad_args("`plan` is required: a plan object (see `polyclaw plan schema`)")
            })?;
            let plan = match plan {
                Value::String(text) => serde_json::to_value(
                    polyclaw_planner::plan::parse_plan(&text)
                        .map_err(|e| bad_args(format!("`plan` could not be read: {e}")))?,
                )
                .unwrap_or_default(),
                other => other,
            };
            Ok(crate::front::plan_tools::run_plan(hub, plan, ctx).await)
        }
        _ => Err(McpError::invalid_params(
            format!("unknown tool `{exposed}`; call tools/list to see what exists"),
            None,
        )),
    }
}

/// The registry as JSON, without secrets (no env values, no header values).
#[must_use]
pub fn list_servers(hub: &Hub) -> Vec<Value> {
    let catalog = hub.catalog();
    hub.servers()
        .iter()
        .map(|ds| {
            let status = ds.status();
            let tools = catalog.tool_count(&ds.spec.name);
            let mut v = json!({
                "name": ds.spec.name,
                "kind": ds.spec.kind(),
                "endpoint": ds.spec.endpoint(),
                "prefix": ds.spec.prefix,
                "status": status.label(),
                "tools": tools,
            });
            if let Some(d) = &ds.spec.description {
                v["description"] = json!(d);
            }
            match status {
                Status::Down {
                    error, attempts, ..
                } => {
                    v["error"] = json!(error);
                    v["failures"] = json!(attempts);
                }
                Status::Ready { pid: Some(pid), .. } => v["pid"] = json!(pid),
                Status::Ready {
                    container: Some(name),
                    ..
                } => v["container"] = json!(name),
                _ => {}
            }
            v
        })
        .collect()
}
