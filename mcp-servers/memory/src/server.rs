//! The rmcp `ServerHandler`: tools `remember`, `recall`, `search`, `forget`
//! and `list` over a [`Store`] (file work runs on the blocking pool).

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    handler::server::tool::{schema_for_input, schema_for_output},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
        Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
        ServerConfig, Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::store::{Note, Store, Summary};

/// Arguments of `remember`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RememberArgs {
    /// The note's key: 1-128 characters from A-Z a-z 0-9 _ . - (e.g. "project-deadline").
    /// Remembering an existing key replaces its note.
    pub key: String,
    /// The text to keep.
    pub text: String,
    /// Optional tags, for `search` with "#tag".
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Arguments of `recall` and `forget`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KeyArgs {
    /// The note's key.
    pub key: String,
}

/// Arguments of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// Text to find in keys, texts and tags (case is ignored), or "#tag" for
    /// the notes with exactly that tag.
    pub query: String,
}

/// Arguments of `list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Output of `remember`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Remembered {
    /// The note as saved.
    pub note: Note,
    /// Whether the key was new.
    pub created: bool,
}

/// Output of `forget`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Forgotten {
    /// The key that was removed.
    pub key: String,
}

/// Output of `list` and `search`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Found {
    /// The notes (search: most recently updated first; list: by key).
    pub notes: Vec<Summary>,
    /// Whether more matched than the 100 returned (search only).
    pub truncated: bool,
}

/// The memory server: one per session, sharing the store.
#[derive(Debug, Clone)]
pub struct MemoryServer {
    store: Arc<Store>,
    tools: Arc<Vec<Tool>>,
}

fn tool<A: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> anyhow::Result<Tool> {
    let input =
        schema_for_input::<A>().map_err(|err| anyhow::anyhow!("input schema of {name}: {err}"))?;
    Ok(Tool::new(name, description, input)
        .with_raw_output_schema(schema_for_output::<O>())
        .with_annotations(annotations.open_world(false)))
}

impl MemoryServer {
    pub fn new(store: Arc<Store>) -> anyhow::Result<Self> {
        let reading = ToolAnnotations::new().read_only(true);
        let tools = vec![
            tool::<RememberArgs, Remembered>(
                "remember",
                "Keep a note under a key (replacing any note with that key), with optional tags.",
                ToolAnnotations::new()
                    .read_only(false)
                    .destructive(true)
                    .idempotent(true),
            )?,
            tool::<KeyArgs, Note>(
                "recall",
                "Return the note kept under a key.",
                reading.clone(),
            )?,
            tool::<SearchArgs, Found>(
                "search",
                "Find notes whose key, text or tags contain the query (case is ignored); \"#tag\" finds the notes with that tag. Most recent first, at most 100.",
                reading.clone(),
            )?,
            tool::<KeyArgs, Forgotten>(
                "forget",
                "Delete the note kept under a key.",
                ToolAnnotations::new()
                    .read_only(false)
                    .destructive(true)
                    .idempotent(false),
            )?,
            tool::<NoArgs, Found>(
                "list",
                "List every note's key, tags and last update.",
                reading,
            )?,
        ];
        Ok(Self {
            store,
            tools: Arc::new(tools),
        })
    }
}

/// Deserializes tool arguments (absent = `{}`); bad input is an error result
/// the model can correct.
fn parse<T: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::Object(arguments.unwrap_or_default()))
        .map_err(|err| format!("invalid arguments: {err}"))
}

fn result<O: Serialize>(
    outcome: Result<O, String>,
    text: impl FnOnce(&O) -> String,
) -> CallToolResult {
    match outcome {
        Ok(output) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(text(&output))]);
            result.structured_content = serde_json::to_value(&output).ok();
            result
        }
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

fn summaries_text(found: &Found, empty: &str) -> String {
    if found.notes.is_empty() {
        return empty.to_owned();
    }
    let mut text = String::new();
    for note in &found.notes {
        let tags = if note.tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", note.tags.join(", "))
        };
        text.push_str(&format!("{}{tags} (updated {})\n", note.key, note.updated));
        if let Some(preview) = &note.preview {
            text.push_str(&format!("  {}\n", preview.replace('\n', "\n  ")));
        }
    }
    if found.truncated {
        text.push_str("… more notes matched: refine the query\n");
    }
    text
}

impl MemoryServer {
    async fn run(&self, name: &str, arguments: Option<JsonObject>) -> Option<CallToolResult> {
        let store = self.store.clone();
        let name = name.to_owned();
        let work = move || -> Option<CallToolResult> {
            Some(match name.as_str() {
                "remember" => {
                    let outcome = parse::<RememberArgs>(arguments).and_then(|args| {
                        store
                            .remember(&args.key, args.text, args.tags)
                            .map(|(note, created)| Remembered { note, created })
                    });
                    result(outcome, |r| {
                        format!(
                            "remembered {} ({})",
                            r.note.key,
                            if r.created { "new" } else { "replaced" }
                        )
                    })
                }
                "recall" => {
                    let outcome =
                        parse::<KeyArgs>(arguments).and_then(|args| store.recall(&args.key));
                    result(outcome, |note| note.text.clone())
                }
                "search" => {
                    let outcome = parse::<SearchArgs>(arguments)
                        .and_then(|args| store.search(&args.query))
                        .map(|(notes, truncated)| Found { notes, truncated });
                    result(outcome, |found| summaries_text(found, "no notes match"))
                }
                "forget" => {
                    let outcome = parse::<KeyArgs>(arguments).and_then(|args| {
                        store
                            .forget(&args.key)
                            .map(|()| Forgotten { key: args.key })
                    });
                    result(outcome, |f| format!("forgot {}", f.key))
                }
                "list" => {
                    let outcome =
                        parse::<NoArgs>(arguments)
                            .and_then(|_| store.list())
                            .map(|notes| Found {
                                notes,
                                truncated: false,
                            });
                    result(outcome, |found| summaries_text(found, "no notes yet"))
                }
                _ => return None,
            })
        };
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|err| {
                Some(CallToolResult::error(vec![ContentBlock::text(format!(
                    "internal error: {err}"
                ))]))
            })
    }
}

impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("memory", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Notes that persist between conversations: remember KEY with text and tags, \
                 recall KEY, search by words or #tag, list, forget.",
            )
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.run(&request.name, request.arguments).await {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {}: the tools are remember, recall, search, forget, list",
                    request.name
                ),
                None,
            )),
        }
    }
}
