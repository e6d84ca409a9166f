//! `polyclaw import`: turns an MCP client's JSON configuration into a `polyclaw.toml`.
//!
//! Accepted shapes, as the clients write them:
//!
//! * Claude Desktop (`claude_desktop_config.json`), Cursor (`.cursor/mcp.json`), Claude Code
//!   (`.mcp.json`) and most others: `{"mcpServers": {NAME: {"command", "args", "env"}}}` for
//!   local servers and `{"url", "headers", "type": "http" | "sse" | "streamable-http"}` for
//!   remote ones.
//! * VS Code `.vscode/mcp.json`: `{"servers": {NAME: {"type": "stdio" | "http" | "sse", ...}},
//!   "inputs": [...]}`, and `{"mcp": {"servers": ..., "inputs": ...}}` from `settings.json`.
//!
//! JSON with comments and trailing commas (as VS Code allows) is read too. Nothing is fatal
//! that a user can fix in the generated TOML: unknown keys, odd names, SSE servers and the
//! like become warnings, returned next to the configuration. Variable references are
//! rewritten to polyclaw's `${env:NAME}` form; every `$` that is not a reference becomes `$$`,
//! so values reach the servers exactly as the client would have passed them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::jsonc::parse_jsonc;
use crate::config::{FrontConfig, RawConfig, RawServer, validate_server_name};
use crate::error::Error;
use crate::registry::names::{OWN_SERVER, SEPARATOR};

/// The longest server name polyclaw accepts (see [`validate_server_name`]).
const MAX_NAME: usize = 48;

/// Reads an MCP client's JSON config (`text`, read from `path`) into a polyclaw configuration.
///
/// Returns the configuration and the warnings a user should read: renamed servers, dropped
/// keys, environment variables to export, SSE servers.
///
/// # Errors
/// [`Error::Import`] when the text is not JSON (with line and column), has no server list
/// (`mcpServers`, `servers` or `mcp.servers`), or none of its servers can be imported.
pub fn import_mcp_servers(path: &Path, text: &str) -> Result<(RawConfig, Vec<String>), Error> {
    let fail = |message: String| Error::Import {
        path: path.to_path_buf(),
        message,
    };
    let root = parse_jsonc(text).map_err(fail)?;
    let Value::Object(root) = root else {
        return Err(fail(format!(
            "the file holds {} at the top, not an object; expected an MCP client config such as \
             {{\"mcpServers\": {{\"NAME\": {{\"command\": \"...\"}}}}}}",
            describe(&root)
        )));
    };

    let mut sections: Vec<ServerList<'_>> = Vec::new();
    let mut inputs: Vec<&Value> = Vec::new();
    sections.extend(server_list("mcpServers", root.get("mcpServers")).map_err(fail)?);
    sections.extend(server_list("servers", root.get("servers")).map_err(fail)?);
    let settings = root.get("mcp").and_then(Value::as_object);
    if let Some(mcp) = settings {
        // VS Code's settings.json: `"mcp": {"servers": ..., "inputs": ...}`.
        sections.extend(server_list("mcp.servers", mcp.get("servers")).map_err(fail)?);
        inputs.extend(mcp.get("inputs"));
    }
    inputs.extend(root.get("inputs"));

    if sections.is_empty() {
        let keys: Vec<String> = root.keys().take(8).map(|k| format!("`{k}`")).collect();
        let found = if keys.is_empty() {
            "the object is empty".to_string()
        } else {
            format!("its top-level keys are {}", keys.join(", "))
        };
        return Err(fail(format!(
            "found no `mcpServers`, `servers` or `mcp.servers` object ({found}); point polyclaw \
             import at a client's MCP config, e.g. claude_desktop_config.json, .mcp.json, \
             ~/.cursor/mcp.json or .vscode/mcp.json"
        )));
    }
    let total: usize = sections.iter().map(|(_, map)| map.len()).sum();
    if total == 0 {
        let keys: Vec<String> = sections.iter().map(|(k, _)| format!("`{k}`")).collect();
        return Err(fail(format!(
            "{} holds no servers; there is nothing to import",
            keys.join(" and ")
        )));
    }

    let mut importer = Importer::new(path);
    if settings.is_none() {
        let ignored: Vec<String> = root
            .keys()
            .filter(|k| !matches!(k.as_str(), "mcpServers" | "servers" | "inputs" | "$schema"))
            .map(|k| format!("`{k}`"))
            .collect();
        if !ignored.is_empty() {
            importer.warn(format!(
                "ignored top-level key(s) {}: they are not MCP server settings",
                ignored.join(", ")
            ));
        }
    }
    for list in inputs {
        importer.read_inputs(list);
    }
    for (key, map) in &sections {
        for (name, entry) in *map {
            importer.server(key, name, entry);
        }
    }
    let (servers, warnings) = importer.finish();
    if servers.is_empty() {
        return Err(fail(format!(
            "none of the {total} server(s) could be imported: {}",
            warnings.join("; ")
        )));
    }
    Ok((
        RawConfig {
            servers,
            ..RawConfig::default()
        },
        warnings,
    ))
}

/// Renders a configuration as a readable `polyclaw.toml`: a header comment, then one
/// `[servers.NAME]` table per server (with `env` and `headers` as sub-tables).
///
/// # Errors
/// [`Error::InvalidInput`] if the result would not read back as the same configuration (a
/// bug; the message asks for a report).
pub fn to_toml(config: &RawConfig) -> Result<String, Error> {
    render(config, None, &[])
}

/// Like [`to_toml`], with the header naming the imported file and listing `warnings` as
/// comments, so they stay next to the servers they are about.
///
/// # Errors
/// See [`to_toml`].
pub fn to_toml_from(
    config: &RawConfig,
    source: &Path,
    warnings: &[String],
) -> Result<String, Error> {
    render(config, Some(source), warnings)
}

/// A server list and the key it was found under.
type ServerList<'a> = (&'static str, &'a Map<String, Value>);

/// The server list under `key`, if present.
fn server_list<'a>(
    key: &'static str,
    value: Option<&'a Value>,
) -> Result<Option<ServerList<'a>>, String> {
    match value {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some((key, map))),
        Some(other) => Err(format!(
            "`{key}` is {}, not an object that maps server names to their settings; fix it in \
             the client or in the file",
            describe(other)
        )),
    }
}

/// "an array", "a string", ... for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Conversion

/// How an entry reaches its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stdio,
    Http,
    Sse,
}

/// Keys of a server entry that are read; anything else is reported.
const KNOWN_KEYS: &[&str] = &[
    "type",
    "command",
    "args",
    "env",
    "envFile",
    "cwd",
    "url",
    "serverUrl",
    "httpUrl",
    "headers",
    "description",
    "disabled",
    "enabled",
];

/// The state of one import: servers so far, warnings, and what `${input:..}` became.
struct Importer {
    /// The folder `${workspaceFolder}` stands for, when the file's location tells.
    workspace: Option<String>,
    /// VS Code input ids and their descriptions.
    inputs: BTreeMap<String, Option<String>>,
    /// Environment variable → (input id, where it is used).
    input_uses: BTreeMap<String, (String, Vec<String>)>,
    servers: BTreeMap<String, RawServer>,
    warnings: Vec<String>,
}

impl Importer {
    fn new(path: &Path) -> Self {
        Self {
            workspace: workspace_of(path),
            inputs: BTreeMap::new(),
            input_uses: BTreeMap::new(),
            servers: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Records VS Code's `inputs` (`[{"id", "description", "type", "password"}]`).
    fn read_inputs(&mut self, list: &Value) {
        let Value::Array(items) = list else {
            self.warn(format!(
                "ignored `inputs`: it is {}, not an array",
                describe(list)
            ));
            return;
        };
        for item in items {
            if let Some(id) = item.get("id").and_then(Value::as_str) {
                let description = item
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.inputs.insert(id.to_string(), description);
            }
        }
    }

    /// Converts one entry of a server list and adds it, or warns why it was skipped.
    fn server(&mut self, section: &str, original: &str, entry: &Value) {
        let Value::Object(fields) = entry else {
            self.warn(format!(
                "skipped `{section}.{original}`: it is {}, not an object of settings",
                describe(entry)
            ));
            return;
        };
        if let Some(command) = fields.get("command").and_then(Value::as_str)
            && is_polyclaw(command)
        {
            self.warn(format!(
                "skipped server `{original}`: it starts polyclaw itself (`{command}`, e.g. added \
                 by `polyclaw connect`), and polyclaw must not run itself"
            ));
            return;
        }
        let name = self.name_for(original);
        if let Some(server) = self.convert(&name, fields) {
            self.servers.insert(name, server);
        }
    }

    /// A valid, unused polyclaw name for `original`, with a warning when it had to change.
    fn name_for(&mut self, original: &str) -> String {
        let (base, reason) = match validate_server_name(original) {
            Ok(()) => (original.to_string(), None),
            Err(reason) => (sanitize_name(original), Some(reason)),
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.servers.contains_key(&name) {
            let suffix = format!("-{n}");
            let mut stem = base.clone();
            stem.truncate(MAX_NAME - suffix.len());
            name = format!("{stem}{suffix}");
            n += 1;
        }
        match reason {
            Some(reason) => self.warn(format!(
                "server `{original}` is imported as `{name}`: {reason}"
            )),
            None if name != original => self.warn(format!(
                "server `{original}` is imported as `{name}`: the name was already taken"
            )),
            None => {}
        }
        name
    }

    fn convert(&mut self, name: &str, fields: &Map<String, Value>) -> Option<RawServer> {
        let at = |key: &str| format!("servers.{name}.{key}");
        let unknown: Vec<String> = fields
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .map(|k| format!("`{k}`"))
            .collect();
        if !unknown.is_empty() {
            self.warn(format!(
                "server `{name}`: ignored {}: polyclaw has no such setting",
                unknown.join(", ")
            ));
        }

        let command = self.string_field(name, fields, "command");
        let url_key = ["url", "serverUrl", "httpUrl"]
            .into_iter()
            .find(|k| fields.contains_key(*k));
        let url = url_key.and_then(|k| self.string_field(name, fields, k));
        let inferred = if command.is_some() {
            Some(Kind::Stdio)
        } else if url.is_some() {
            Some(Kind::Http)
        } else {
            None
        };
        let kind = match fields.get("type") {
            None => inferred,
            Some(Value::String(t)) => match t.as_str() {
                "stdio" | "local" => Some(Kind::Stdio),
                "http" | "streamable-http" | "streamableHttp" | "streamable_http" | "remote" => {
                    Some(Kind::Http)
                }
                "sse" => Some(Kind::Sse),
                other => {
                    self.warn(format!(
                        "server `{name}`: unknown `type: {other}`; it was read from its keys instead"
                    ));
                    inferred
                }
            },
            Some(other) => {
                self.warn(format!(
                    "server `{name}`: `type` is {}, not a string; it was read from its keys instead",
                    describe(other)
                ));
                inferred
            }
        };
        let Some(kind) = kind else {
            self.warn(format!(
                "skipped server `{name}`: it has neither `command` (a local server) nor `url` (a \
                 remote one); add it to polyclaw.toml by hand"
            ));
            return None;
        };

        let mut server = RawServer::default();
        if let Some(description) = fields.get("description").and_then(Value::as_str) {
            server.description = Some(description.to_string());
        }
        if fields.get("disabled") == Some(&Value::Bool(true))
            || fields.get("enabled") == Some(&Value::Bool(false))
        {
            server.enabled = Some(false);
        }
        if let Some(file) = fields.get("envFile") {
            let file = file.as_str().unwrap_or("?");
            self.warn(format!(
                "server `{name}`: polyclaw does not read `envFile` ({file}); export those variables \
                 before starting polyclaw, or copy them into [servers.{name}.env]"
            ));
        }

        match kind {
            Kind::Stdio => {
                let Some(command) = command else {
                    self.warn(format!(
                        "skipped server `{name}`: it is a stdio server without `command`; add it \
                         to polyclaw.toml by hand"
                    ));
                    return None;
                };
                server.command = Some(self.translate(&at("command"), &command));
                server.args = self.string_list(name, fields, "args");
                if command.trim().contains(char::is_whitespace) && server.args.is_empty() {
                    self.warn(format!(
                        "server `{name}`: `command` contains spaces and there are no `args`; \
                         polyclaw runs it as one program path, so if it is a whole command line, \
                         split it into `command` (the program) and `args`"
                    ));
                }
                server.env = self.string_map(name, fields, "env");
                if let Some(cwd) = self.string_field(name, fields, "cwd") {
                    server.cwd = Some(self.translate(&at("cwd"), &cwd));
                }
                let dropped: Vec<&str> =
                    [url_key, fields.contains_key("headers").then_some("headers")]
                        .into_iter()
                        .flatten()
                        .collect();
                if !dropped.is_empty() {
                    self.warn(format!(
                        "server `{name}`: ignored `{}`: it runs as a local process (`command`), so \
                         only `args`, `env` and `cwd` apply",
                        dropped.join("`, `")
                    ));
                }
            }
            Kind::Http | Kind::Sse => {
                let Some(url) = url else {
                    self.warn(format!(
                        "skipped server `{name}`: it is an HTTP server without `url`; add it to \
                         polyclaw.toml by hand"
                    ));
                    return None;
                };
                let translated = self.translate(&at("url"), &url);
                if kind == Kind::Sse {
                    self.warn(format!(
                        "server `{name}` uses the old SSE transport; polyclaw speaks Streamable \
                         HTTP only. It was imported with the same url ({url}); many servers also \
                         serve Streamable HTTP, often at `/mcp` instead of `/sse` — check the \
                         server's docs and fix `url` if `polyclaw doctor` cannot reach it"
                    ));
                } else if url_key == Some("url")
                    && fields.get("type").is_none()
                    && url.trim_end_matches('/').ends_with("/sse")
                {
                    self.warn(format!(
                        "server `{name}`: {url} looks like an SSE endpoint; polyclaw speaks \
                         Streamable HTTP only, so if `polyclaw doctor` cannot reach it, use the \
                         server's Streamable HTTP url (often ending in `/mcp`)"
                    ));
                }
                server.url = Some(translated);
                server.headers = self.string_map(name, fields, "headers");
                let dropped: Vec<&str> = ["command", "args", "env", "cwd"]
                    .into_iter()
                    .filter(|k| fields.contains_key(*k))
                    .collect();
                if !dropped.is_empty() {
                    self.warn(format!(
                        "server `{name}`: ignored `{}`: it is reached over HTTP (`url`), so only \
                         `headers` apply",
                        dropped.join("`, `")
                    ));
                }
            }
        }
        Some(server)
    }

    /// A string-valued key, or a warning when it has another type.
    fn string_field(
        &mut self,
        name: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> Option<String> {
        match fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.warn(format!(
                    "server `{name}`: ignored `{key}`: it is {}, not a string",
                    describe(other)
                ));
                None
            }
        }
    }

    /// `args`: strings (numbers and booleans are taken as written).
    fn string_list(&mut self, name: &str, fields: &Map<String, Value>, key: &str) -> Vec<String> {
        let items = match fields.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.warn(format!(
                    "server `{name}`: ignored `{key}`: it is {}, not an array of strings",
                    describe(other)
                ));
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("servers.{name}.{key}[{i}]");
            match scalar(item) {
                Some(s) => out.push(self.translate(&at, &s)),
                None => self.warn(format!(
                    "server `{name}`: dropped `{key}[{i}]`: it is {}, not a string",
                    describe(item)
                )),
            }
        }
        out
    }

    /// `env` and `headers`: string values (numbers and booleans are taken as written).
    fn string_map(
        &mut self,
        name: &str,
        fields: &Map<String, Value>,
        key: &str,
    ) -> BTreeMap<String, String> {
        let map = match fields.get(key) {
            None | Some(Value::Null) => return BTreeMap::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                self.warn(format!(
                    "server `{name}`: ignored `{key}`: it is {}, not an object of strings",
                    describe(other)
                ));
                return BTreeMap::new();
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let at = format!("servers.{name}.{key}.{k}");
            match scalar(v) {
                Some(s) => {
                    let value = self.translate(&at, &s);
                    out.insert(k.clone(), value);
                }
                None if v.is_null() => self.warn(format!(
                    "server `{name}`: dropped `{key}.{k}`: null (\"unset it\") has no polyclaw \
                     equivalent; unset {k} in the shell that starts polyclaw if it matters"
                )),
                None => self.warn(format!(
                    "server `{name}`: dropped `{key}.{k}`: it is {}, not a string",
                    describe(v)
                )),
            }
        }
        out
    }

    /// Rewrites the client's variable references into polyclaw's; escapes every other `$`.
    fn translate(&mut self, at: &str, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(body) = tail.strip_prefix("${")
                && let Some(end) = body.find('}')
            {
                let reference = &body[..end];
                let replacement = self.reference(at, reference);
                out.push_str(&replacement);
                rest = &body[end + 1..];
            } else {
                out.push_str("$$");
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The polyclaw text for one `${reference}` found at `at`.
    fn reference(&mut self, at: &str, reference: &str) -> String {
        if let Some(var) = reference.strip_prefix("env:")
            && is_env_name(var)
        {
            return format!("${{env:{var}}}");
        }
        if let Some(id) = reference.strip_prefix("input:") {
            let var = env_name_for(id);
            self.input_uses
                .entry(var.clone())
                .or_insert_with(|| (id.to_string(), Vec::new()))
                .1
                .push(at.to_string());
            return format!("${{env:{var}}}");
        }
        if reference == "polyclaw:bin_dir" {
            return format!("${{{reference}}}");
        }
        if reference == "userHome" {
            return "${env:HOME}".to_string();
        }
        if reference == "/" || reference == "pathSeparator" {
            return std::path::MAIN_SEPARATOR.to_string();
        }
        if matches!(
            reference,
            "workspaceFolder" | "workspaceRoot" | "workspaceFolderBasename"
        ) {
            let Some(folder) = &self.workspace else {
                self.warn(format!(
                    "{at}: `${{{reference}}}` was replaced by `.` (the folder polyclaw starts in) \
                     because the workspace folder is unknown; write the absolute path there"
                ));
                return ".".to_string();
            };
            let value = if reference == "workspaceFolderBasename" {
                Path::new(folder)
                    .file_name()
                    .map_or_else(|| folder.clone(), |n| n.to_string_lossy().into_owned())
            } else {
                folder.clone()
            };
            return value.replace('$', "$$");
        }
        // Claude Code: `${VAR}` and `${VAR:-default}`.
        if is_env_name(reference) {
            return format!("${{env:{reference}}}");
        }
        if let Some((var, default)) = reference.split_once(":-")
            && is_env_name(var)
        {
            self.warn(format!(
                "{at}: `${{{reference}}}` became `${{env:{var}}}`; polyclaw has no defaults, so \
                 export {var} (e.g. {var}={default}) before starting polyclaw"
            ));
            return format!("${{env:{var}}}");
        }
        self.warn(format!(
            "{at}: `${{{reference}}}` is not a variable polyclaw knows, so it is kept as literal \
             text; replace it with the value or with `${{env:NAME}}`"
        ));
        format!("$${{{reference}}}")
    }

    /// The servers and warnings, with one warning per `${input:..}` turned into a variable.
    fn finish(mut self) -> (BTreeMap<String, RawServer>, Vec<String>) {
        let uses = std::mem::take(&mut self.input_uses);
        for (var, (id, places)) in uses {
            let asked = match self.inputs.get(&id) {
                Some(Some(description)) => format!(" (VS Code asked for \"{description}\")"),
                Some(None) => String::new(),
                None => " (not declared in `inputs`)".to_string(),
            };
            self.warn(format!(
                "`${{input:{id}}}`{asked} is now `${{env:{var}}}` in {}; export {var} before \
                 starting polyclaw",
                places.join(", ")
            ));
        }
        (self.servers, self.warnings)
    }
}

/// A string for a JSON scalar as written (`8080`, `true`), none for the rest.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `command` starts polyclaw itself (an entry written by `polyclaw connect`).
fn is_polyclaw(command: &str) -> bool {
    let file = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let file = file.strip_suffix(".exe").unwrap_or(file);
    file == OWN_SERVER
}

/// `NAME` as an environment variable name: letters, digits and `_`, not starting with a digit.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment variable that stands for VS Code input `id`: `github-token` → `GITHUB_TOKEN`.
fn env_name_for(id: &str) -> String {
    let mut name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        name.push_str("INPUT");
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// A valid server name close to `name`: other characters become `-`, `__` becomes `_`, the
/// reserved `polyclaw` becomes `polyclaw-server`.
fn sanitize_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains(SEPARATOR) {
        s = s.replace(SEPARATOR, "_");
    }
    s.truncate(MAX_NAME);
    if s.is_empty() {
        s.push_str("server");
    }
    if s == OWN_SERVER {
        s.push_str("-server");
    }
    s
}

/// The folder `${workspaceFolder}` means for a config at `path`: the parent of `.vscode` or
/// `.cursor`, else the file's own folder (`.mcp.json` sits at a project's root).
fn workspace_of(path: &Path) -> Option<String> {
    let path = std::path::absolute(path).ok()?;
    let dir = path.parent()?;
    let dir = match dir.file_name().and_then(|n| n.to_str()) {
        Some(".vscode" | ".cursor") => dir.parent()?,
        _ => dir,
    };
    Some(dir.to_string_lossy().into_owned())
}

// ---------------------------------------------------------------------------------------------
// TOML output

fn render(config: &RawConfig, source: Option<&Path>, warnings: &[String]) -> Result<String, Error> {
    let mut out = String::new();
    match source {
        Some(path) => {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            push_line(
                &mut out,
                &format!("# polyclaw configuration, imported from {} by `polyclaw import`.", shown.display()),
            );
        }
        None => out.push_str("# polyclaw configuration, imported from an MCP client's config by `polyclaw import`.\n"),
    }
    out.push_str(
        "# Check it with `polyclaw config check`; `polyclaw doctor` starts every server once.\n\
         # Values may use ${env:NAME} (read when polyclaw starts); `$$` is a literal `$`.\n",
    );
    if !warnings.is_empty() {
        out.push_str("#\n# Review before use:\n");
        for w in warnings {
            push_line(&mut out, &format!("#   - {w}"));
        }
    }
    for (name, server) in &config.servers {
        let table = format!("servers.{}", toml_key(name));
        out.push('\n');
        out.push_str(&format!("[{table}]\n"));
        let s = server;
        let strings = [("description", &s.description), ("command", &s.command)];
        for (key, value) in strings {
            if let Some(v) = value {
                out.push_str(&format!("{key} = {}\n", toml_string(v)));
            }
        }
        if !s.args.is_empty() {
            out.push_str(&format!("args = {}\n", toml_array(&s.args)));
        }
        let strings = [
            ("cwd", &s.cwd),
            ("url", &s.url),
            ("image", &s.image),
            ("prefix", &s.prefix),
            ("start", &s.start),
        ];
        for (key, value) in strings {
            if let Some(v) = value {
                out.push_str(&format!("{key} = {}\n", toml_string(v)));
            }
        }
        if let Some(t) = s.timeout {
            out.push_str(&format!("timeout = {}\n", toml::Value::Float(t)));
        }
        if let Some(enabled) = s.enabled {
            out.push_str(&format!("enabled = {enabled}\n"));
        }
        for (key, map) in [("env", &s.env), ("headers", &s.headers)] {
            if map.is_empty() {
                continue;
            }
            out.push_str(&format!("\n[{table}.{key}]\n"));
            for (k, v) in map {
                out.push_str(&format!("{} = {}\n", toml_key(k), toml_string(v)));
            }
        }
    }
    if config.front != FrontConfig::default() {
        let front = toml::to_string(&config.front).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot write the [front] settings as TOML ({e}); please report this"
            ))
        })?;
        out.push_str("\n[front]\n");
        out.push_str(&front);
    }

    // The file must read back as exactly this configuration.
    let back: RawConfig = toml::from_str(&out).map_err(|e| {
        Error::InvalidInput(format!(
            "the generated polyclaw.toml does not parse ({}); please report this with the input file",
            e.message()
        ))
    })?;
    if back.servers != config.servers || back.front != config.front {
        return Err(Error::InvalidInput(
            "the generated polyclaw.toml does not read back as the imported servers; please report \
             this with the input file"
                .into(),
        ));
    }
    Ok(out)
}

/// Appends `line` as one or more comment lines (line breaks inside stay comments).
fn push_line(out: &mut String, line: &str) {
    let mut lines = line.lines();
    if let Some(first) = lines.next() {
        out.push_str(first);
        out.push('\n');
    }
    for rest in lines {
        out.push_str("#     ");
        out.push_str(rest);
        out.push('\n');
    }
}

/// A TOML key: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_string()
    } else {
        toml_string(key)
    }
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings: on one line when short, one item a line otherwise.
fn toml_array(items: &[String]) -> String {
    let rendered: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    let one_line = format!("[{}]", rendered.join(", "));
    if one_line.len() <= 80 {
        return one_line;
    }
    let mut out = String::from("[\n");
    for item in rendered {
        out.push_str("    ");
        out.push_str(&item);
        out.push_str(",\n");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigSource, Interpolator, Transport};

    fn import(path: &str, text: &str) -> (RawConfig, Vec<String>) {
        import_mcp_servers(Path::new(path), text).expect("imports")
    }

    fn import_err(text: &str) -> String {
        match import_mcp_servers(Path::new("/tmp/x.json"), text) {
            Err(Error::Import { message, .. }) => message,
            other => panic!("expected an import error, got {other:?}"),
        }
    }

    fn has(warnings: &[String], needle: &str) -> bool {
        warnings.iter().any(|w| w.contains(needle))
    }

    fn vars(pairs: &[(&str, &str)]) -> Interpolator {
        let env: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Interpolator::with_vars(env, Some("/opt/polyclaw/bin".into()))
    }

    /// Renders, parses with `Config::parse`, and returns the validated config.
    fn round_trip(config: &RawConfig, env: &[(&str, &str)]) -> Config {
        let text = to_toml(config).expect("renders");
        Config::parse(
            &text,
            ConfigSource::File("polyclaw.toml".into()),
            &vars(env),
        )
        .unwrap_or_else(|e| panic!("generated TOML does not load: {e}\n{text}"))
    }

    #[test]
    fn claude_desktop_config() {
        let text = r#"{
          "mcpServers": {
            "filesystem": {
              "command": "npx",
              "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
            },
            "github": {
              "command": "docker",
              "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
              "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_literal"}
            }
          },
          "globalShortcut": "Ctrl+Space"
        }"#;
        let (config, warnings) = import("claude_desktop_config.json", text);
        assert_eq!(config.servers.len(), 2);
        let fs = &config.servers["filesystem"];
        assert_eq!(fs.command.as_deref(), Some("npx"));
        assert_eq!(fs.args[2], "/Users/me/Desktop");
        let gh = &config.servers["github"];
        assert_eq!(gh.env["GITHUB_PERSONAL_ACCESS_TOKEN"], "ghp_literal");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(has(&warnings, "`globalShortcut`"));

        let loaded = round_trip(&config, &[]);
        assert_eq!(loaded.servers.len(), 2);
        let Transport::Process { env, args, .. } = &loaded.servers[1].transport else {
            panic!("github is a process");
        };
        assert_eq!(env["GITHUB_PERSONAL_ACCESS_TOKEN"], "ghp_literal");
        assert_eq!(args.len(), 6);
    }

    #[test]
    fn claude_code_mcp_json() {
        let text = r#"{
          "mcpServers": {
            "sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp",
                       "headers": {"Authorization": "Bearer ${SENTRY_TOKEN}"}},
            "api": {"type": "streamable-http", "url": "${API_BASE_URL:-https://api.example.com}/mcp"},
            "local": {"type": "stdio", "command": "${HOME}/bin/server", "args": ["--port", 8080, true],
                      "env": {"LEVEL": "debug"}}
          }
        }"#;
        let (config, warnings) = import("/work/project/.mcp.json", text);
        let sentry = &config.servers["sentry"];
        assert_eq!(sentry.url.as_deref(), Some("https://mcp.sentry.dev/mcp"));
        assert_eq!(
            sentry.headers["Authorization"],
            "Bearer ${env:SENTRY_TOKEN}"
        );
        let api = &config.servers["api"];
        assert_eq!(api.url.as_deref(), Some("${env:API_BASE_URL}/mcp"));
        assert!(has(
            &warnings,
            "export API_BASE_URL (e.g. API_BASE_URL=https://api.example.com)"
        ));
        let local = &config.servers["local"];
        assert_eq!(local.command.as_deref(), Some("${env:HOME}/bin/server"));
        assert_eq!(local.args, ["--port", "8080", "true"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let loaded = round_trip(
            &config,
            &[
                ("SENTRY_TOKEN", "s3cret"),
                ("API_BASE_URL", "https://x.test"),
                ("HOME", "/home/me"),
            ],
        );
        let api = loaded
            .servers
            .iter()
            .find(|s| s.name == "api")
            .expect("api");
        assert_eq!(api.endpoint(), "https://x.test/mcp");
        let sentry = loaded
            .servers
            .iter()
            .find(|s| s.name == "sentry")
            .expect("sentry");
        let Transport::Http { headers, .. } = &sentry.transport else {
            panic!("sentry is http");
        };
        assert_eq!(headers["Authorization"], "Bearer s3cret");
    }

    #[test]
    fn cursor_mcp_json_with_env_references_and_url_inference() {
        let text = r#"{
          "mcpServers": {
            "remote": {"url": "https://example.com/mcp", "headers": {"X-Key": "${env:EXAMPLE_KEY}"}},
            "legacy": {"url": "http://localhost:8000/sse"},
            "py": {"command": "uv", "args": ["run", "server.py"], "cwd": "${workspaceFolder}/tools",
                   "envFile": "${workspaceFolder}/.env"}
          }
        }"#;
        let (config, warnings) = import("/home/me/proj/.cursor/mcp.json", text);
        assert_eq!(
            config.servers["remote"].headers["X-Key"],
            "${env:EXAMPLE_KEY}"
        );
        assert_eq!(
            config.servers["legacy"].url.as_deref(),
            Some("http://localhost:8000/sse")
        );
        assert!(has(&warnings, "looks like an SSE endpoint"));
        assert_eq!(
            config.servers["py"].cwd.as_deref(),
            Some("/home/me/proj/tools")
        );
        assert!(has(&warnings, "does not read `envFile`"));
        round_trip(&config, &[("EXAMPLE_KEY", "k")]);
    }

    #[test]
    fn vscode_mcp_json_with_inputs_comments_and_sse() {
        let text = r#"{
          // Inputs are prompted on first server start.
          "inputs": [
            {"type": "promptString", "id": "github-token", "description": "GitHub Personal Access Token", "password": true},
          ],
          "servers": {
            /* the GitHub server */
            "github": {
              "type": "http",
              "url": "https://api.githubcopilot.com/mcp/",
              "headers": {"Authorization": "Bearer ${input:github-token}"},
            },
            "fetch": {"type": "stdio", "command": "uvx", "args": ["mcp-server-fetch", "--ua=a//b /* c */"],
                      "env": {"TOKEN": "${input:github-token}", "HOME_DIR": "${userHome}", "UNSET": null},
                      "dev": {"watch": "src/**/*.py"}},
            "old": {"type": "sse", "url": "https://old.example.com/sse"},
          },
        }"#;
        let (config, warnings) = import(".vscode/mcp.json", text);
        assert_eq!(
            config.servers["github"].headers["Authorization"],
            "Bearer ${env:GITHUB_TOKEN}"
        );
        let fetch = &config.servers["fetch"];
        assert_eq!(
            fetch.args[1], "--ua=a//b /* c */",
            "comment markers inside strings stay"
        );
        assert_eq!(fetch.env["TOKEN"], "${env:GITHUB_TOKEN}");
        assert_eq!(fetch.env["HOME_DIR"], "${env:HOME}");
        assert!(!fetch.env.contains_key("UNSET"));
        assert!(has(&warnings, "`env.UNSET`"));
        assert!(has(&warnings, "ignored `dev`"));
        assert_eq!(
            config.servers["old"].url.as_deref(),
            Some("https://old.example.com/sse")
        );
        assert!(has(&warnings, "old SSE transport"));
        let input: Vec<&String> = warnings
            .iter()
            .filter(|w| w.contains("${input:github-token}"))
            .collect();
        assert_eq!(input.len(), 1, "one warning per input: {warnings:?}");
        assert!(input[0].contains("GitHub Personal Access Token"));
        assert!(input[0].contains("export GITHUB_TOKEN"));
        assert!(input[0].contains("servers.github.headers.Authorization"));
        assert!(input[0].contains("servers.fetch.env.TOKEN"));

        round_trip(&config, &[("GITHUB_TOKEN", "t"), ("HOME", "/home/me")]);
    }

    #[test]
    fn vscode_settings_json() {
        let text = r#"{
          "editor.fontSize": 14,
          "mcp": {
            "inputs": [{"type": "promptString", "id": "key"}],
            "servers": {"time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"K": "${input:key}"}}}
          }
        }"#;
        let (config, warnings) = import("settings.json", text);
        assert_eq!(config.servers["time"].env["K"], "${env:KEY}");
        assert_eq!(
            warnings.len(),
            1,
            "no warning about editor settings: {warnings:?}"
        );
    }

    #[test]
    fn names_are_sanitized_with_warnings() {
        let text = r#"{"mcpServers": {
            "my.server": {"command": "a"},
            "my-server": {"command": "b"},
            "a__b": {"command": "c"},
            "polyclaw": {"command": "d"},
            "": {"command": "e"}
        }}"#;
        let (config, warnings) = import("x.json", text);
        let names: Vec<&str> = config.servers.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "a_b",
                "my-server",
                "my-server-2",
                "polyclaw-server",
                "server"
            ]
        );
        for name in &names {
            assert!(validate_server_name(name).is_ok(), "{name}");
        }
        assert!(
            has(&warnings, "`my.server` is imported as `my-server-2`")
                || has(&warnings, "`my-server` is imported as `my-server-2`")
        );
        assert!(has(&warnings, "`a__b` is imported as `a_b`"));
        assert!(has(
            &warnings,
            "`polyclaw` is imported as `polyclaw-server`"
        ));
        round_trip(&config, &[]);
    }

    #[test]
    fn long_names_are_cut_to_the_limit() {
        let long = "x.".repeat(40);
        let text = format!(r#"{{"mcpServers": {{"{long}": {{"command": "a"}}}}}}"#);
        let (config, _) = import("x.json", &text);
        let name = config.servers.keys().next().expect("one server");
        assert_eq!(name.len(), MAX_NAME);
        assert!(validate_server_name(name).is_ok());
    }

    #[test]
    fn dollars_and_unknown_references_stay_literal() {
        let text = r#"{"mcpServers": {"s": {"command": "run", "args": ["price$5", "$$x", "${command:pick}", "${open"]}}}"#;
        let (config, warnings) = import("x.json", text);
        assert_eq!(
            config.servers["s"].args,
            ["price$$5", "$$$$x", "$${command:pick}", "$${open"]
        );
        assert!(has(
            &warnings,
            "`${command:pick}` is not a variable polyclaw knows"
        ));
        let loaded = round_trip(&config, &[]);
        let Transport::Process { args, .. } = &loaded.servers[0].transport else {
            panic!("process");
        };
        assert_eq!(args, &["price$5", "$$x", "${command:pick}", "${open"]);
    }

    #[test]
    fn unknown_keys_disabled_and_description() {
        let text = r#"{"mcpServers": {"s": {"command": "a", "alwaysAllow": ["x"], "timeout": 30,
            "disabled": true, "description": "the s server"}}}"#;
        let (config, warnings) = import("x.json", text);
        let s = &config.servers["s"];
        assert_eq!(s.enabled, Some(false));
        assert_eq!(s.description.as_deref(), Some("the s server"));
        assert!(has(&warnings, "ignored `alwaysAllow`, `timeout`"));
        let loaded = round_trip(&config, &[]);
        assert!(!loaded.servers[0].enabled);
    }

    #[test]
    fn unusable_entries_are_skipped_not_fatal() {
        let text = r#"{"mcpServers": {
            "ok": {"command": "a"},
            "nothing": {"args": ["x"]},
            "scalar": 3,
            "self": {"command": "/usr/local/bin/polyclaw", "args": ["serve"]},
            "both": {"command": "a", "url": "http://x/mcp", "headers": {"A": "b"}}
        }}"#;
        let (config, warnings) = import("x.json", text);
        let names: Vec<&str> = config.servers.keys().map(String::as_str).collect();
        assert_eq!(names, ["both", "ok"]);
        assert!(has(&warnings, "skipped server `nothing`"));
        assert!(has(&warnings, "skipped `mcpServers.scalar`"));
        assert!(has(&warnings, "skipped server `self`"));
        assert!(has(&warnings, "server `both`: ignored `url`, `headers`"));
        round_trip(&config, &[]);
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let message = import_err("{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"\n  }\n");
        assert!(
            message.contains("invalid JSON at line 2, column 17: Unterminated object"),
            "the object left open is named where it starts: {message}"
        );
        assert!(message.contains("fix the file"), "{message}");

        let message = import_err("{\n  // fine\n  \"mcpServers\": {\"a\": {\"command\" \"x\"}}\n}");
        assert!(
            message.contains("line 3, column 34: Expected colon"),
            "{message}"
        );
    }

    #[test]
    fn files_that_are_not_mcp_configs_are_refused() {
        assert!(import_err("").contains("empty"));
        assert!(import_err("[1, 2]").contains("an array at the top"));
        assert!(import_err(r#"{"other": 1}"#).contains("found no `mcpServers`"));
        assert!(import_err(r#"{"mcpServers": []}"#).contains("`mcpServers` is an array"));
        assert!(import_err(r#"{"servers": {}}"#).contains("holds no servers"));
        let message = import_err(r#"{"servers": {"a": {"type": "stdio"}}}"#);
        assert!(message.contains("none of the 1 server(s)"), "{message}");
    }

    #[test]
    fn jsonc_comments_and_trailing_commas_are_read() {
        let text = "{\"mcpServers\": {\"a\": {\"command\": \"//x\", // c\n /* d\n e */ \"args\": [\"1\",],},},}";
        let (config, _) = import("mcp.json", text);
        let a = &config.servers["a"];
        assert_eq!(a.command.as_deref(), Some("//x"));
        assert_eq!(a.args, vec!["1".to_string()]);
    }

    #[test]
    fn toml_is_readable_and_quotes_what_it_must() {
        let mut config = RawConfig::default();
        config.servers.insert(
            "web".into(),
            RawServer {
                url: Some("https://example.com/mcp".into()),
                headers: [(
                    "Authorization".to_string(),
                    "Bearer ${env:TOKEN}".to_string(),
                )]
                .into(),
                description: Some("say \"hi\"\nthere".into()),
                timeout: Some(12.5),
                ..RawServer::default()
            },
        );
        config.servers.insert(
            "tool".into(),
            RawServer {
                command: Some("C:\\Tools\\server.exe".into()),
                args: (0..12).map(|i| format!("--option-number-{i}")).collect(),
                env: [("my.var".to_string(), "1".to_string())].into(),
                start: Some("boot".into()),
                ..RawServer::default()
            },
        );
        let text = to_toml(&config).expect("renders");
        assert!(text.starts_with("# polyclaw configuration"));
        assert!(text.contains("[servers.web]\n"));
        assert!(text.contains("[servers.web.headers]\nAuthorization = \"Bearer ${env:TOKEN}\"\n"));
        assert!(text.contains("[servers.tool.env]\n\"my.var\" = \"1\"\n"));
        assert!(text.contains("args = [\n    \"--option-number-0\",\n"));
        assert!(text.contains("timeout = 12.5\n"));
        let loaded = round_trip(&config, &[("TOKEN", "t")]);
        assert_eq!(loaded.servers.len(), 2);

        let annotated = to_toml_from(&config, Path::new("/a/.vscode/mcp.json"), &["w1".into()])
            .expect("renders");
        assert!(annotated.contains("imported from /a/.vscode/mcp.json"));
        assert!(annotated.contains("#   - w1\n"));
        let back: RawConfig = toml::from_str(&annotated).expect("parses");
        assert_eq!(back.servers, config.servers);
    }

    #[test]
    fn non_default_front_is_kept() {
        let mut config = RawConfig::default();
        config.servers.insert(
            "a".into(),
            RawServer {
                command: Some("a".into()),
                ..RawServer::default()
            },
        );
        config.front.allowed_hosts.push("example.com".into());
        let text = to_toml(&config).expect("renders");
        assert!(text.contains("[front]"));
        let loaded = round_trip(&config, &[]);
        assert_eq!(loaded.front.allowed_hosts, ["example.com"]);
    }

    #[test]
    fn input_ids_become_env_names() {
        assert_eq!(env_name_for("github-token"), "GITHUB_TOKEN");
        assert_eq!(env_name_for("perplexity.key"), "PERPLEXITY_KEY");
        assert_eq!(env_name_for("1st"), "_1ST");
        assert_eq!(env_name_for(""), "INPUT");
    }
}
