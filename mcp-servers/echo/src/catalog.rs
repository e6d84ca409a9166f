//! The built-in tool catalogue: argument and output types (their JSON Schemas
//! come from `schemars`) and the `Tool` definitions listed by `tools/list`.

use std::sync::Arc;

use rmcp::{
    handler::server::tool::{schema_for_input, schema_for_output},
    model::{JsonObject, Tool, ToolAnnotations},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tool names, shared by the catalogue and the dispatcher.
pub mod names {
    pub const ECHO: &str = "echo";
    pub const ADD: &str = "add";
    pub const SLEEP: &str = "sleep";
    pub const CRASH: &str = "crash";
    pub const PID: &str = "pid";
    pub const ENV: &str = "env";
    pub const PROGRESS: &str = "progress";
    pub const LOG: &str = "log";
    pub const SAMPLE: &str = "sample";
    pub const ELICIT: &str = "elicit";
    pub const ADD_TOOL: &str = "add_tool";
    pub const FAIL: &str = "fail";
    pub const FLAKY: &str = "flaky";
    pub const FREEZE: &str = "freeze";
    pub const SPEW: &str = "spew";
}

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub text: String,
}

/// Structured output of `echo`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EchoOutput {
    /// The text that was sent.
    pub text: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// First addend.
    pub a: f64,
    /// Second addend.
    pub b: f64,
}

/// Structured output of `add`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SumOutput {
    /// a + b.
    pub sum: f64,
}

/// Arguments of `sleep`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SleepArgs {
    /// How long to wait, in milliseconds.
    pub ms: u64,
}

/// Arguments of tools that take none (`crash`, `pid`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Arguments of `env`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EnvArgs {
    /// Name of the environment variable to read.
    pub name: String,
}

/// Arguments of `progress`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProgressArgs {
    /// Number of progress notifications to send.
    pub steps: u32,
}

/// Arguments of `log`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogArgs {
    /// The message to log (sent as `notifications/message`, level info).
    pub message: String,
}

/// Arguments of `sample`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SampleArgs {
    /// The user message to send to the client's model.
    pub prompt: String,
}

/// Arguments of `elicit`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ElicitArgs {
    /// The message shown to the user with the form.
    pub message: String,
}

/// Arguments of `add_tool`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddToolArgs {
    /// Name of the tool to register (`[A-Za-z0-9_.-]`, 1 to 128 characters).
    pub name: String,
    /// Its description (default: a fixed text). Adding the same tool again with another
    /// description changes its definition (for testing drift detection).
    #[serde(default)]
    pub description: Option<String>,
}

/// Arguments of `flaky`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FlakyArgs {
    /// Calls with the same key share one counter.
    pub key: String,
    /// How many calls with this key fail before the next one succeeds.
    pub failures: u32,
}

/// Arguments of `freeze`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FreezeArgs {
    /// How long the whole server stops responding, in milliseconds.
    pub ms: u64,
}

/// Arguments of `spew`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpewArgs {
    /// Bytes per line (`x` repeated: not JSON).
    pub line_bytes: u64,
    /// How many such lines.
    pub lines: u64,
}

/// Arguments of `fail`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FailArgs {
    /// The error message to return.
    pub message: String,
}

fn input<T: JsonSchema + 'static>() -> anyhow::Result<Arc<JsonObject>> {
    schema_for_input::<T>().map_err(|error| {
        anyhow::anyhow!(
            "schema for {} is not an object: {error}",
            std::any::type_name::<T>()
        )
    })
}

fn tool<T: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
) -> anyhow::Result<Tool> {
    Ok(Tool::new(name, description, input::<T>()?))
}

/// Builds the built-in tools, in listing order.
pub fn builtin_tools() -> anyhow::Result<Vec<Tool>> {
    use names::*;
    let read_only = ToolAnnotations::new().read_only(true);
    Ok(vec![
        tool::<EchoArgs>(ECHO, "Returns its text argument unchanged.")?
            .with_raw_output_schema(schema_for_output::<EchoOutput>())
            .with_annotations(read_only.clone()),
        tool::<AddArgs>(ADD, "Adds two numbers.")?
            .with_raw_output_schema(schema_for_output::<SumOutput>())
            .with_annotations(read_only.clone()),
        tool::<SleepArgs>(
            SLEEP,
            "Waits the given number of milliseconds (returns early when cancelled), then answers \"slept\".",
        )?
        .with_annotations(read_only.clone()),
        tool::<NoArgs>(
            CRASH,
            "Makes the server process exit immediately with code 3, without replying.",
        )?
        .with_annotations(ToolAnnotations::new().destructive(true)),
        tool::<NoArgs>(PID, "Returns the server's process id.")?
            .with_annotations(read_only.clone()),
        tool::<EnvArgs>(
            ENV,
            "Returns the value of an environment variable of the server process, or an error result if it is unset.",
        )?
        .with_annotations(read_only.clone()),
        tool::<ProgressArgs>(
            PROGRESS,
            "Sends `steps` progress notifications to the caller (if it gave a progress token), then answers \"done\".",
        )?
        .with_annotations(read_only.clone()),
        tool::<LogArgs>(
            LOG,
            "Sends a logging notification (level info, logger = server name), then answers \"logged\".",
        )?
        .with_annotations(read_only.clone()),
        tool::<SampleArgs>(
            SAMPLE,
            "Asks the client to sample its model with the prompt (sampling/createMessage, maxTokens 100) and returns the answer's text.",
        )?,
        tool::<ElicitArgs>(
            ELICIT,
            "Asks the client for a form with one string field `answer`; returns the answer, or \"declined\" / \"cancelled\".",
        )?,
        tool::<AddToolArgs>(
            ADD_TOOL,
            "Registers a new tool with the given name that echoes its arguments as JSON text, and sends notifications/tools/list_changed.",
        )?,
        tool::<FailArgs>(FAIL, "Returns a tool error result (isError true) with the message.")?
            .with_annotations(read_only),
        tool::<FreezeArgs>(
            FREEZE,
            "Blocks the whole server (it answers nothing, not even pings) for `ms` milliseconds: for testing health checks.",
        )?,
        tool::<SpewArgs>(
            SPEW,
            "Writes `lines` lines of `line_bytes` bytes of garbage (not JSON) straight to stdout, past the MCP framing, then answers \"spewed\": for testing a client against a flooding or runaway server.",
        )?,
        tool::<FlakyArgs>(
            FLAKY,
            "Fails (error result) the first `failures` calls with the same `key`, then answers \"ok after N failures\": for testing retries.",
        )?,
    ])
}

/// The definition of a tool registered at run time by `add_tool`.
pub fn dynamic_tool(name: &str, description: Option<&str>) -> Tool {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), "object".into());
    schema.insert("additionalProperties".into(), true.into());
    Tool::new(
        name.to_owned(),
        description
            .unwrap_or("Added at run time by add_tool: returns its arguments as JSON text.")
            .to_owned(),
        Arc::new(schema),
    )
}

/// Whether `name` is an acceptable tool name: `[A-Za-z0-9_.-]{1,128}`.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tools_have_object_schemas_and_descriptions() -> anyhow::Result<()> {
        let tools = builtin_tools()?;
        assert_eq!(tools.len(), 15);
        for tool in &tools {
            assert!(
                tool.description.is_some(),
                "{} has no description",
                tool.name
            );
            assert_eq!(
                tool.input_schema.get("type").and_then(|t| t.as_str()),
                Some("object"),
                "{}",
                tool.name
            );
        }
        let echo = tools
            .iter()
            .find(|tool| tool.name == names::ECHO)
            .ok_or_else(|| anyhow::anyhow!("no echo"))?;
        let output = echo
            .output_schema
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("echo has no output schema"))?;
        assert!(
            output
                .get("properties")
                .is_some_and(|p| p.get("text").is_some())
        );
        let required = echo.input_schema.get("required").cloned();
        assert_eq!(required, Some(serde_json::json!(["text"])));
        Ok(())
    }

    #[test]
    fn tool_names_are_validated() {
        assert!(valid_tool_name("a"));
        assert!(valid_tool_name("Dyn_tool.v1-2"));
        assert!(valid_tool_name(&"x".repeat(128)));
        assert!(!valid_tool_name(""));
        assert!(!valid_tool_name(&"x".repeat(129)));
        assert!(!valid_tool_name("has space"));
        assert!(!valid_tool_name("slash/name"));
        assert!(!valid_tool_name("é"));
    }
}
