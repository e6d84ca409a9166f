//! The rmcp `ServerHandler`: the tool catalogue, `tools/call` dispatch (file
//! work runs on the blocking pool), and the files as `file:///` resources.

use std::sync::Arc;

use rmcp::{
    RoleServer, ServerHandler,
    handler::server::tool::{schema_for_input, schema_for_output},
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
        Implementation, JsonObject, ListResourceTemplatesResult, ListResourcesResult,
        ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerCapabilities,
        ServerConfig, Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{ops, root::Root};

/// URI scheme prefix of the resources: `file:///` + path relative to the root.
pub const URI_PREFIX: &str = "file:///";

/// Arguments of `list_dir`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListDirArgs {
    /// Directory relative to the root; "." (the default) is the root itself.
    #[serde(default = "dot")]
    pub path: String,
}

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFileArgs {
    /// File path relative to the root.
    pub path: String,
    /// Read at most this many bytes (default 1048576, at most 16777216).
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFileArgs {
    /// File path relative to the root; missing parent directories are created.
    pub path: String,
    /// The whole new content (UTF-8 text).
    pub content: String,
}

/// Arguments of `stat`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatArgs {
    /// Path relative to the root.
    pub path: String,
}

/// Arguments of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// A substring of the path (e.g. "report"), or a glob when it has * ? or [
    /// (e.g. "*.md", "src/**/*.rs": with a / it is matched against the path
    /// below `path`, else against the file name). Case is ignored.
    pub pattern: String,
    /// Directory to search, relative to the root (default: the root).
    #[serde(default = "dot")]
    pub path: String,
}

fn dot() -> String {
    ".".to_owned()
}

/// The file server: one per session, sharing the root.
#[derive(Debug, Clone)]
pub struct FsServer {
    root: Arc<Root>,
    read_only: bool,
    tools: Arc<Vec<Tool>>,
}

fn tool<A: JsonSchema + 'static, O: JsonSchema + 'static>(
    name: &'static str,
    description: String,
    annotations: ToolAnnotations,
) -> anyhow::Result<Tool> {
    let input =
        schema_for_input::<A>().map_err(|err| anyhow::anyhow!("input schema of {name}: {err}"))?;
    Ok(Tool::new(name, description, input)
        .with_raw_output_schema(schema_for_output::<O>())
        .with_annotations(annotations))
}

impl FsServer {
    pub fn new(root: Arc<Root>, read_only: bool) -> anyhow::Result<Self> {
        let reading = ToolAnnotations::new().read_only(true).open_world(false);
        let write_note = if read_only {
            " This server runs with --read-only: calls are refused."
        } else {
            ""
        };
        let tools = vec![
            tool::<ListDirArgs, ops::Listing>(
                "list_dir",
                "List a directory under the root: name, type (file, dir, symlink, other) and size of each entry, sorted by name.".into(),
                reading.clone(),
            )?,
            tool::<ReadFileArgs, ops::FileContent>(
                "read_file",
                "Read a file under the root. UTF-8 text is returned as is, other content as base64; at most max_bytes (default 1 MiB) are read.".into(),
                reading.clone(),
            )?,
            tool::<WriteFileArgs, ops::Written>(
                "write_file",
                format!("Create or replace a file under the root with the given text (atomically; parent directories are created).{write_note}"),
                ToolAnnotations::new()
                    .read_only(false)
                    .destructive(true)
                    .idempotent(true)
                    .open_world(false),
            )?,
            tool::<StatArgs, ops::Stat>(
                "stat",
                "Type, size, modification time and permissions of a path under the root (symlinks are followed).".into(),
                reading.clone(),
            )?,
            tool::<SearchArgs, ops::Matches>(
                "search",
                "Find files and directories under the root by name: a substring of the path, or a glob such as *.md or src/**/*.rs. At most 1000 matches.".into(),
                reading,
            )?,
        ];
        Ok(Self {
            root,
            read_only,
            tools: Arc::new(tools),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Root) -> T + Send + 'static,
    ) -> Result<T, ErrorData> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .map_err(|err| ErrorData::internal_error(format!("file task failed: {err}"), None))
    }
}

/// Deserializes tool arguments (absent = `{}`); bad input is an error
/// result the model can correct.
fn parse<T: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<T, CallToolResult> {
    serde_json::from_value(serde_json::Value::Object(arguments.unwrap_or_default())).map_err(
        |err| {
            CallToolResult::error(vec![ContentBlock::text(format!(
                "invalid arguments: {err}"
            ))])
        },
    )
}

/// The parsed arguments, or return the error result.
macro_rules! args {
    ($arguments:expr) => {
        match parse($arguments) {
            Ok(args) => args,
            Err(result) => return Ok(result.into()),
        }
    };
}

/// A successful result: `text` plus `output` as structured content, or an
/// error result with the message.
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

fn listing_text(listing: &ops::Listing) -> String {
    let mut text = String::new();
    for entry in &listing.entries {
        let line = match entry.kind {
            ops::Kind::Dir => format!("{}/\n", entry.name),
            ops::Kind::Symlink => format!("{}@\n", entry.name),
            _ => format!("{}  ({} bytes)\n", entry.name, entry.size),
        };
        text.push_str(&line);
    }
    if listing.entries.is_empty() {
        text.push_str("(empty directory)\n");
    }
    if listing.truncated {
        text.push_str("… more entries left out\n");
    }
    text
}

fn file_text(file: &ops::FileContent) -> String {
    let mut text = if file.encoding == "base64" {
        format!(
            "binary file {} ({} bytes), base64:\n{}",
            file.path, file.size, file.content
        )
    } else {
        file.content.clone()
    };
    if file.truncated {
        text.push_str(&format!(
            "\n… truncated: {} bytes in all, raise max_bytes to read more",
            file.size
        ));
    }
    text
}

fn matches_text(found: &ops::Matches) -> String {
    let mut text: String = found
        .matches
        .iter()
        .map(|m| {
            let slash = if m.kind == ops::Kind::Dir { "/" } else { "" };
            format!("{}{slash}\n", m.path)
        })
        .collect();
    if found.matches.is_empty() {
        text.push_str("no matches\n");
    }
    if found.truncated {
        text.push_str("… search stopped early: narrow the pattern or the path\n");
    }
    text
}

impl ServerHandler for FsServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("fs", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Files under one root directory{}. Paths are relative to the root; paths that \
                 leave it are refused. Files are also resources: file:///PATH.",
                if self.read_only { " (read-only)" } else { "" }
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments;
        let result = match request.name.as_ref() {
            "list_dir" => {
                let args: ListDirArgs = args!(arguments);
                let listing = self
                    .blocking(move |root| ops::list_dir(root, &args.path))
                    .await?;
                result(listing, listing_text)
            }
            "read_file" => {
                let args: ReadFileArgs = args!(arguments);
                let file = self
                    .blocking(move |root| ops::read_file(root, &args.path, args.max_bytes))
                    .await?;
                result(file, file_text)
            }
            "write_file" => {
                let args: WriteFileArgs = args!(arguments);
                let written = if self.read_only {
                    Err(format!(
                        "write_file {} refused: this server runs with --read-only",
                        args.path
                    ))
                } else {
                    self.blocking(move |root| ops::write_file(root, &args.path, &args.content))
                        .await?
                };
                result(written, |w| {
                    format!(
                        "{} {} ({} bytes)",
                        if w.created { "created" } else { "replaced" },
                        w.path,
                        w.bytes
                    )
                })
            }
            "stat" => {
                let args: StatArgs = args!(arguments);
                let stat = self
                    .blocking(move |root| ops::stat(root, &args.path))
                    .await?;
                result(stat, |s| {
                    serde_json::to_string_pretty(s).unwrap_or_else(|_| s.path.clone())
                })
            }
            "search" => {
                let args: SearchArgs = args!(arguments);
                let found = self
                    .blocking(move |root| ops::search(root, &args.pattern, &args.path))
                    .await?;
                result(found, matches_text)
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool {other}: the tools are list_dir, read_file, write_file, stat, search"
                    ),
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
        let files = self.blocking(ops::resource_files).await?;
        let resources = files
            .into_iter()
            .map(|(path, size)| {
                Resource::new(format!("{URI_PREFIX}{}", encode_path(&path)), path.clone())
                    .with_mime_type(ops::mime_type(&path))
                    .with_size(size)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("file:///{path}", "file")
                .with_description("Any file under the root, by its path relative to the root."),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let path = uri
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("{uri}: resource URIs of this server are file:///PATH, PATH relative to the root"),
                    None,
                )
            })
            .and_then(|path| {
                decode_path(path).ok_or_else(|| {
                    ErrorData::invalid_params(format!("{uri}: bad percent-encoding"), None)
                })
            })?;
        let (rel, bytes) = self
            .blocking(move |root| ops::resource_bytes(root, &path))
            .await?
            .map_err(|message| ErrorData::resource_not_found(message, None))?;
        let mime = ops::mime_type(&rel);
        let contents = match String::from_utf8(bytes) {
            Ok(text) => ResourceContents::text(text, uri),
            Err(err) => ResourceContents::blob(ops::base64(err.as_bytes()), uri),
        };
        Ok(ReadResourceResult::new(vec![contents.with_mime_type(mime)]).into())
    }
}

/// Percent-encodes a relative path for a URI (keeps `/` and unreserved
/// characters).
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` if malformed or not UTF-8.
pub fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_round_trip() {
        for path in ["a.txt", "dir/with space/ü.md", "100%", "a+b&c"] {
            let encoded = encode_path(path);
            assert!(!encoded.contains(' '));
            assert_eq!(decode_path(&encoded).as_deref(), Some(path));
        }
        assert_eq!(encode_path("a b/c"), "a%20b/c");
        assert_eq!(decode_path("bad%2"), None);
        assert_eq!(decode_path("bad%zz"), None);
        assert_eq!(decode_path("%FF"), None);
    }
}
