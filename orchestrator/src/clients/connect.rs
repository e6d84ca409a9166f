//! `polyclaw connect`: the configuration that plugs polyclaw into an MCP client, and a careful
//! writer that merges it into the client's own file.
//!
//! Each client keeps its servers in a JSON file under its own key:
//!
//! | client         | file (scope)                                                  | key          |
//! |----------------|---------------------------------------------------------------|--------------|
//! | VS Code        | `.vscode/mcp.json` (workspace)                                | `servers`    |
//! | Claude Desktop | `claude_desktop_config.json` in the app's settings folder     | `mcpServers` |
//! | Claude Code    | `.mcp.json` (project)                                         | `mcpServers` |
//! | Cursor         | `~/.cursor/mcp.json` (every project)                          | `mcpServers` |
//!
//! The entry either launches `polyclaw serve` over stdio or points at a running
//! `polyclaw serve --http` with a bearer token read from an environment variable, written in
//! the variable syntax the client expands. [`write_into`] keeps every other server and key of
//! an existing file, in their order, and copies the file to `FILE.bak` before changing it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use super::jsonc;
use crate::error::Error;

/// The name polyclaw's entry gets in a client's server list.
pub const ENTRY_NAME: &str = "polyclaw";

/// An MCP client that `polyclaw connect` knows how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Client {
    /// VS Code (Copilot agent mode): `.vscode/mcp.json`.
    #[value(alias = "code")]
    Vscode,
    /// Claude Desktop: `claude_desktop_config.json`.
    ClaudeDesktop,
    /// Claude Code: the project's `.mcp.json`.
    ClaudeCode,
    /// Cursor: `~/.cursor/mcp.json`.
    Cursor,
}

impl Client {
    /// The product name, for messages.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Vscode => "VS Code",
            Self::ClaudeDesktop => "Claude Desktop",
            Self::ClaudeCode => "Claude Code",
            Self::Cursor => "Cursor",
        }
    }

    /// The top-level key of the client's server list.
    #[must_use]
    pub fn servers_key(self) -> &'static str {
        match self {
            Self::Vscode => "servers",
            Self::ClaudeDesktop | Self::ClaudeCode | Self::Cursor => "mcpServers",
        }
    }

    /// `${env:NAME}` or `${NAME}`: how the client spells an environment reference.
    fn env_ref(self, name: &str) -> String {
        match self {
            Self::ClaudeCode => format!("${{{name}}}"),
            Self::Vscode | Self::ClaudeDesktop | Self::Cursor => format!("${{env:{name}}}"),
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How the client should start or reach polyclaw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The polyclaw binary (absolute), for stdio.
    pub exe: PathBuf,
    /// `--config` for `polyclaw serve` (made absolute), for stdio.
    pub config: Option<PathBuf>,
    /// The URL of a running `polyclaw serve --http` (e.g. `http://127.0.0.1:8765/mcp`); when
    /// set, the client connects there instead of launching polyclaw.
    pub http_url: Option<String>,
    /// With `http_url`: the environment variable that holds the bearer token.
    pub token_env: Option<String>,
}

/// What to add to a client's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Snippet {
    /// The client's config file for this user or project, when polyclaw knows it (relative
    /// paths are relative to the current folder: `.vscode/mcp.json`, `.mcp.json`).
    pub path: Option<PathBuf>,
    /// The entry to add under [`Client::servers_key`] as [`ENTRY_NAME`]; [`document`] renders
    /// it as the complete JSON to paste.
    pub json: Value,
    /// A command that adds the entry instead (`claude mcp add ...`, `code --add-mcp ...`),
    /// quoted for a POSIX shell.
    pub shell: Option<String>,
    /// Things the user must know: scope, restarts, variables to export.
    pub notes: Vec<String>,
}

/// The entry for `client`, its file, an equivalent shell command and notes.
#[must_use]
pub fn client_config(client: Client, launch: &Launch) -> Snippet {
    client_config_on(client, launch, &Platform::current())
}

/// `{"<servers key>": {"polyclaw": entry}}` as pretty JSON, keys in a readable order
/// (`type`, `command`, `args`, ... first): what a user pastes into the client's file.
#[must_use]
pub fn document(client: Client, entry: &Value) -> String {
    let doc = Json::Object(vec![(
        client.servers_key().to_string(),
        Json::Object(vec![(ENTRY_NAME.to_string(), Json::from_value(entry))]),
    )]);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| entry.to_string())
}

/// What [`write_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAction {
    /// The file did not exist; it was created with only polyclaw's entry.
    Created,
    /// The entry was added to an existing file.
    Added,
    /// An existing `polyclaw` entry was replaced.
    Replaced,
    /// The file already had exactly this entry; nothing was written.
    Unchanged,
}

/// The result of [`write_into`]; `Display` says it in a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The file written (a symbolic link is followed to its target).
    pub path: PathBuf,
    /// What happened.
    pub action: WriteAction,
    /// Where the previous content was copied, if the file existed and was changed.
    pub backup: Option<PathBuf>,
    /// Anything else the user should know (e.g. comments that could not be kept).
    pub notes: Vec<String>,
}

impl fmt::Display for WriteOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.action {
            WriteAction::Created => write!(f, "created {path} with the `{ENTRY_NAME}` entry")?,
            WriteAction::Added => write!(f, "added `{ENTRY_NAME}` to {path}")?,
            WriteAction::Replaced => write!(f, "updated the `{ENTRY_NAME}` entry in {path}")?,
            WriteAction::Unchanged => {
                write!(
                    f,
                    "{path} already has this `{ENTRY_NAME}` entry; nothing changed"
                )?;
            }
        }
        if let Some(backup) = &self.backup {
            write!(f, " (the previous version is in {})", backup.display())?;
        }
        Ok(())
    }
}

/// Merges `entry` as `polyclaw` into the client's config file at `path`, keeping every other
/// server and key in their order. A missing file (and folder) is created; an existing one is
/// first copied to `FILE.bak`. Comments and trailing commas are accepted but cannot be kept
/// (a note says so). VS Code's `settings.json` (`"mcp": {"servers": ...}`) is understood too.
///
/// # Errors
/// [`Error::InvalidInput`] when the existing file is not JSON or its server list is not an
/// object (the file is left untouched); [`Error::Io`] when it cannot be read or written.
pub fn write_into(path: &Path, client: Client, entry: &Value) -> Result<WriteOutcome, Error> {
    let target = resolve_link(path)?;
    let existing = match std::fs::read_to_string(&target) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Io {
                context: format!(
                    "cannot read {}; check that it is a file you may read, or pick another with \
                     the client's documented location",
                    target.display()
                ),
                source,
            });
        }
    };
    let refuse = |why: String| {
        Error::InvalidInput(format!(
            "{} {why}, so polyclaw will not rewrite it; nothing was changed. Fix the file (or move \
             it away to start a new one) and run `polyclaw connect` again, or add the entry by hand",
            target.display()
        ))
    };

    let mut had_comments = false;
    let mut root = match existing.as_deref() {
        None => Json::Object(Vec::new()),
        Some(text) => {
            let body = text.strip_prefix('\u{feff}').unwrap_or(text);
            if body.trim().is_empty() {
                Json::Object(Vec::new())
            } else {
                let document =
                    jsonc::parse(body).map_err(|e| refuse(format!("is not valid JSON ({e})")))?;
                had_comments = document.had_comments;
                document
                    .value
                    .map_or_else(|| Json::Object(Vec::new()), Json::from_ast)
            }
        }
    };
    let Json::Object(top) = &mut root else {
        return Err(refuse(format!(
            "holds {} at the top, not a JSON object",
            root.kind()
        )));
    };
    let keys: &[&str] = if client == Client::Vscode
        && !top.iter().any(|(k, _)| k == "servers")
        && matches!(lookup(top, "mcp"), Some(Json::Object(_)))
    {
        &["mcp", "servers"]
    } else {
        match client {
            Client::Vscode => &["servers"],
            Client::ClaudeDesktop | Client::ClaudeCode | Client::Cursor => &["mcpServers"],
        }
    };
    let mut servers = top;
    for key in keys {
        servers = child_object(servers, key).map_err(|kind| {
            refuse(format!(
                "has `{}` as {kind}, not an object of servers",
                keys.join(".")
            ))
        })?;
    }

    let new_entry = Json::from_value(entry);
    let action = match servers.iter_mut().find(|(k, _)| k == ENTRY_NAME) {
        Some((_, old)) if old.to_value() == *entry => {
            return Ok(WriteOutcome {
                path: target,
                action: WriteAction::Unchanged,
                backup: None,
                notes: Vec::new(),
            });
        }
        Some((_, old)) => {
            *old = new_entry;
            WriteAction::Replaced
        }
        None => {
            servers.push((ENTRY_NAME.to_string(), new_entry));
            if existing.is_some() {
                WriteAction::Added
            } else {
                WriteAction::Created
            }
        }
    };

    let mut text = serde_json::to_string_pretty(&root).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot render the new {} as JSON ({e}); please report this",
            target.display()
        ))
    })?;
    text.push('\n');

    let mut notes = Vec::new();
    let backup = if existing.is_some() {
        let backup = backup_path(&target)?;
        std::fs::copy(&target, &backup).map_err(|source| Error::Io {
            context: format!(
                "cannot write the backup {}; nothing was changed (check the folder's permissions)",
                backup.display()
            ),
            source,
        })?;
        if had_comments {
            notes.push(format!(
                "{} had comments or trailing commas, which cannot be kept when it is rewritten; \
                 the original is in {}",
                target.display(),
                backup.display()
            ));
        }
        Some(backup)
    } else {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                context: format!(
                    "cannot create the folder {}; check its permissions",
                    parent.display()
                ),
                source,
            })?;
        }
        None
    };
    write_replacing(&target, text.as_bytes())?;
    Ok(WriteOutcome {
        path: target,
        action,
        backup,
        notes,
    })
}

// ---------------------------------------------------------------------------------------------
// Entries

/// Where this machine keeps per-user files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    Mac,
    Windows,
}

#[derive(Debug, Clone)]
struct Platform {
    os: Os,
    /// The home folder (`HOME`, or `USERPROFILE` on Windows).
    home: Option<PathBuf>,
    /// `%APPDATA%` on Windows.
    appdata: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` on Linux.
    xdg_config: Option<PathBuf>,
}

impl Platform {
    fn current() -> Self {
        let os = if cfg!(target_os = "macos") {
            Os::Mac
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        };
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = match os {
            Os::Windows => var("USERPROFILE").or_else(|| var("HOME")),
            Os::Linux | Os::Mac => var("HOME"),
        };
        Self {
            os,
            home,
            appdata: var("APPDATA"),
            xdg_config: var("XDG_CONFIG_HOME"),
        }
    }

    /// Claude Desktop's `claude_desktop_config.json`.
    fn claude_desktop_file(&self) -> Option<PathBuf> {
        let dir = match self.os {
            Os::Mac => self
                .home
                .as_ref()?
                .join("Library/Application Support/Claude"),
            Os::Windows => self
                .appdata
                .clone()
                .or_else(|| {
                    self.home
                        .as_ref()
                        .map(|h| h.join("AppData").join("Roaming"))
                })?
                .join("Claude"),
            Os::Linux => self
                .xdg_config
                .clone()
                .or_else(|| self.home.as_ref().map(|h| h.join(".config")))?
                .join("Claude"),
        };
        Some(dir.join("claude_desktop_config.json"))
    }
}

fn client_config_on(client: Client, launch: &Launch, platform: &Platform) -> Snippet {
    let mut notes = Vec::new();
    let exe = path_text(&launch.exe);
    let mut args = vec!["serve".to_string()];
    if let Some(config) = &launch.config {
        args.push("--config".into());
        args.push(path_text(config));
    }
    let http = match (client, &launch.http_url) {
        (Client::ClaudeDesktop, Some(url)) => {
            notes.push(format!(
                "Claude Desktop's config file only starts local (stdio) servers; remote ones are \
                 added under Settings → Connectors and must be reachable over public HTTPS. This \
                 entry makes Claude Desktop start its own polyclaw instead of using {url}"
            ));
            None
        }
        (_, url) => url.as_deref(),
    };
    if launch.token_env.is_some() && http.is_none() && launch.http_url.is_none() {
        notes.push("the token variable only applies with an HTTP url; it was left out".into());
    }
    if http.is_none() && launch.config.is_none() {
        notes.push(format!(
            "without --config, the polyclaw that {} starts reads ./polyclaw.toml in the folder it \
             is started in (often not yours), else the embedded default; pass --config to pin a file",
            client.label()
        ));
    }

    let mut entry = Map::new();
    match http {
        None => {
            if matches!(client, Client::Vscode | Client::ClaudeCode) {
                entry.insert("type".into(), "stdio".into());
            }
            entry.insert("command".into(), exe.clone().into());
            entry.insert("args".into(), args.clone().into());
        }
        Some(url) => {
            if matches!(client, Client::Vscode | Client::ClaudeCode) {
                entry.insert("type".into(), "http".into());
            }
            entry.insert("url".into(), url.into());
            if let Some(var) = &launch.token_env {
                let mut headers = Map::new();
                headers.insert(
                    "Authorization".into(),
                    format!("Bearer {}", client.env_ref(var)).into(),
                );
                entry.insert("headers".into(), Value::Object(headers));
                notes.push(format!(
                    "{} reads {var} from the environment it was started in: export {var} (the \
                     token given to `polyclaw serve --token`) in the shell that starts {}",
                    client.label(),
                    client.label()
                ));
            }
        }
    }
    let json = Value::Object(entry);

    let (path, shell) = match client {
        Client::Vscode => {
            let mut named = vec![("name".to_string(), Json::String(ENTRY_NAME.into()))];
            if let Json::Object(fields) = Json::from_value(&json) {
                named.extend(fields);
            }
            let inline = serde_json::to_string(&Json::Object(named)).unwrap_or_default();
            notes.push(
                ".vscode/mcp.json belongs to the workspace folder (run this there); `code \
                 --add-mcp` adds polyclaw to your user profile, for every workspace"
                    .into(),
            );
            (
                Some(PathBuf::from(".vscode").join("mcp.json")),
                Some(format!("code --add-mcp {}", sh_quote(&inline))),
            )
        }
        Client::ClaudeDesktop => {
            let path = platform.claude_desktop_file();
            if path.is_none() {
                notes.push(
                    "cannot tell where Claude Desktop keeps its config (HOME is not set); open \
                     Settings → Developer → Edit Config in Claude Desktop and add the entry there"
                        .into(),
                );
            }
            if platform.os == Os::Linux {
                notes.push(
                    "Claude Desktop has no official Linux release; the path is the one community \
                     builds read"
                        .into(),
                );
            }
            notes.push(
                "quit Claude Desktop completely and start it again to load the change".into(),
            );
            (path, None)
        }
        Client::ClaudeCode => {
            let mut words = vec!["claude", "mcp", "add", "--scope", "project"];
            let mut tail: Vec<String> = Vec::new();
            match http {
                None => {
                    words.push(ENTRY_NAME);
                    tail.push("--".into());
                    tail.push(exe);
                    tail.extend(args);
                }
                Some(url) => {
                    words.extend(["--transport", "http", ENTRY_NAME]);
                    tail.push(url.to_string());
                    // After the url, as in Claude Code's own example: `--header` takes
                    // several values and would swallow the name and url.
                    if let Some(var) = &launch.token_env {
                        tail.push("--header".into());
                        tail.push(format!("Authorization: Bearer {}", client.env_ref(var)));
                    }
                }
            }
            let shell = words
                .into_iter()
                .map(str::to_string)
                .chain(tail)
                .map(|w| sh_quote(&w))
                .collect::<Vec<_>>()
                .join(" ");
            notes.push(
                ".mcp.json is the project scope: shared with everyone who opens this folder, and \
                 Claude Code asks before using it; for yourself in every project, run the command \
                 with `--scope user` instead"
                    .into(),
            );
            (Some(PathBuf::from(".mcp.json")), Some(shell))
        }
        Client::Cursor => {
            let path = platform
                .home
                .as_ref()
                .map(|h| h.join(".cursor").join("mcp.json"));
            if path.is_none() {
                notes.push(
                    "cannot tell where your home folder is (HOME is not set); add the entry to \
                     ~/.cursor/mcp.json"
                        .into(),
                );
            }
            notes.push(
                "~/.cursor/mcp.json applies to every project; for one project only, use \
                 .cursor/mcp.json in its folder"
                    .into(),
            );
            (path, None)
        }
    };

    Snippet {
        path,
        json,
        shell,
        notes,
    }
}

/// A path as text, made absolute when it is not (the client starts in another folder).
fn path_text(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Quotes a word for a POSIX shell, leaving plain words alone.
fn sh_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The file to write: `path` itself, or what it links to, so a dotfile symlink survives.
fn resolve_link(path: &Path) -> Result<PathBuf, Error> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|source| Error::Io {
                context: format!(
                    "{} is a symbolic link to a missing file; fix or remove the link",
                    path.display()
                ),
                source,
            })
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// `FILE.bak` next to `FILE`.
fn backup_path(path: &Path) -> Result<PathBuf, Error> {
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidInput(format!(
            "{} does not name a file; give the path of the client's JSON file",
            path.display()
        ))
    })?;
    let mut backup = name.to_os_string();
    backup.push(".bak");
    Ok(path.with_file_name(backup))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written config; an existing file's permissions are kept.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidInput(format!(
            "{} does not name a file; give the path of the client's JSON file",
            path.display()
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".polyclaw-tmp");
    let tmp = path.with_file_name(tmp_name);
    let io = |source| Error::Io {
        context: format!(
            "cannot write {}; check the folder's permissions (the file itself is unchanged)",
            path.display()
        ),
        source,
    };
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| match std::fs::metadata(path) {
            Ok(meta) => std::fs::set_permissions(&tmp, meta.permissions()),
            Err(_) => Ok(()),
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(source));
    }
    Ok(())
}

/// The entry in `object` under `key`.
fn lookup<'a>(object: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    object.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The object under `key`, created empty when missing; the kind of value found otherwise.
fn child_object<'a>(
    object: &'a mut Vec<(String, Json)>,
    key: &str,
) -> Result<&'a mut Vec<(String, Json)>, &'static str> {
    let index = match object.iter().position(|(k, _)| k == key) {
        Some(i) => i,
        None => {
            object.push((key.to_string(), Json::Object(Vec::new())));
            object.len() - 1
        }
    };
    match &mut object[index].1 {
        Json::Object(fields) => Ok(fields),
        other => Err(other.kind()),
    }
}

// ---------------------------------------------------------------------------------------------
// Order-keeping JSON

/// A JSON value whose objects keep their keys in file order (serde_json's `Value` sorts them),
/// so a rewritten client file differs from the original only where polyclaw's entry is.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Keys shown first, in this order, when polyclaw writes an entry.
const KEY_ORDER: &[&str] = &[
    "name", "type", "command", "args", "env", "cwd", "url", "headers",
];

impl Json {
    /// From a parsed file, keeping its keys in file order.
    fn from_ast(value: jsonc_parser::ast::Value<'_>) -> Self {
        use jsonc_parser::ast::Value as V;
        match value {
            V::NullKeyword(_) => Self::Null,
            V::BooleanLit(b) => Self::Bool(b.value),
            V::NumberLit(n) => jsonc::number(n.value).map_or(Self::Null, Self::Number),
            V::StringLit(s) => Self::String(s.value.into_owned()),
            V::Array(a) => Self::Array(a.elements.into_iter().map(Self::from_ast).collect()),
            V::Object(o) => Self::Object(
                o.properties
                    .into_iter()
                    .map(|p| (p.name.into_string(), Self::from_ast(p.value)))
                    .collect(),
            ),
        }
    }

    /// From a `Value`, ordering object keys as [`KEY_ORDER`], then alphabetically.
    fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(s.clone()),
            Value::Array(items) => Self::Array(items.iter().map(Self::from_value).collect()),
            Value::Object(map) => {
                let mut fields: Vec<(String, Json)> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), Self::from_value(v)))
                    .collect();
                fields.sort_by_key(|(k, _)| {
                    KEY_ORDER
                        .iter()
                        .position(|known| known == k)
                        .unwrap_or(KEY_ORDER.len())
                });
                Self::Object(fields)
            }
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(s) => Value::String(s.clone()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn linux() -> Platform {
        Platform {
            os: Os::Linux,
            home: Some("/home/me".into()),
            appdata: None,
            xdg_config: None,
        }
    }

    fn stdio(config: Option<&str>) -> Launch {
        Launch {
            exe: "/opt/polyclaw/bin/polyclaw".into(),
            config: config.map(PathBuf::from),
            http_url: None,
            token_env: None,
        }
    }

    fn http(token: Option<&str>) -> Launch {
        Launch {
            exe: "/opt/polyclaw/bin/polyclaw".into(),
            config: None,
            http_url: Some("http://127.0.0.1:8765/mcp".into()),
            token_env: token.map(str::to_string),
        }
    }

    fn has(notes: &[String], needle: &str) -> bool {
        notes.iter().any(|n| n.contains(needle))
    }

    fn read(path: &Path) -> Value {
        let text = std::fs::read_to_string(path).expect("readable");
        serde_json::from_str(&text).expect("valid JSON")
    }

    #[test]
    fn vscode_stdio_and_http() {
        let s = client_config_on(Client::Vscode, &stdio(Some("/etc/polyclaw.toml")), &linux());
        assert_eq!(s.path.as_deref(), Some(Path::new(".vscode/mcp.json")));
        assert_eq!(
            s.json,
            json!({"type": "stdio", "command": "/opt/polyclaw/bin/polyclaw",
                   "args": ["serve", "--config", "/etc/polyclaw.toml"]})
        );
        let shell = s.shell.expect("code --add-mcp");
        assert!(
            shell.starts_with(
                "code --add-mcp '{\"name\":\"polyclaw\",\"type\":\"stdio\",\"command\":"
            ),
            "{shell}"
        );
        assert!(!has(&s.notes, "without --config"));

        let s = client_config_on(Client::Vscode, &http(Some("POLYCLAW_TOKEN")), &linux());
        assert_eq!(
            s.json,
            json!({"type": "http", "url": "http://127.0.0.1:8765/mcp",
                   "headers": {"Authorization": "Bearer ${env:POLYCLAW_TOKEN}"}})
        );
        assert!(has(&s.notes, "export POLYCLAW_TOKEN"));
        assert_eq!(
            document(Client::Vscode, &s.json),
            "{\n  \"servers\": {\n    \"polyclaw\": {\n      \"type\": \"http\",\n      \"url\": \
             \"http://127.0.0.1:8765/mcp\",\n      \"headers\": {\n        \"Authorization\": \
             \"Bearer ${env:POLYCLAW_TOKEN}\"\n      }\n    }\n  }\n}"
        );
    }

    #[test]
    fn claude_desktop_paths_per_os() {
        let s = client_config_on(Client::ClaudeDesktop, &stdio(None), &linux());
        assert_eq!(
            s.path.as_deref(),
            Some(Path::new(
                "/home/me/.config/Claude/claude_desktop_config.json"
            ))
        );
        assert_eq!(
            s.json,
            json!({"command": "/opt/polyclaw/bin/polyclaw", "args": ["serve"]})
        );
        assert!(s.shell.is_none());
        assert!(has(&s.notes, "without --config"));
        assert!(has(&s.notes, "no official Linux release"));

        let xdg = Platform {
            xdg_config: Some("/xdg".into()),
            ..linux()
        };
        let s = client_config_on(Client::ClaudeDesktop, &stdio(None), &xdg);
        assert_eq!(
            s.path.as_deref(),
            Some(Path::new("/xdg/Claude/claude_desktop_config.json"))
        );

        let mac = Platform {
            os: Os::Mac,
            home: Some("/Users/me".into()),
            ..linux()
        };
        let s = client_config_on(Client::ClaudeDesktop, &stdio(None), &mac);
        assert_eq!(
            s.path.as_deref(),
            Some(Path::new(
                "/Users/me/Library/Application Support/Claude/claude_desktop_config.json"
            ))
        );

        let windows = Platform {
            os: Os::Windows,
            home: Some("C:/Users/me".into()),
            appdata: Some("C:/Users/me/AppData/Roaming".into()),
            xdg_config: None,
        };
        let s = client_config_on(Client::ClaudeDesktop, &stdio(None), &windows);
        assert_eq!(
            s.path,
            Some(
                PathBuf::from("C:/Users/me/AppData/Roaming")
                    .join("Claude")
                    .join("claude_desktop_config.json")
            )
        );

        let homeless = Platform {
            home: None,
            ..linux()
        };
        let s = client_config_on(Client::ClaudeDesktop, &stdio(None), &homeless);
        assert!(s.path.is_none());
        assert!(has(&s.notes, "Edit Config"));
    }

    #[test]
    fn claude_desktop_over_http_falls_back_to_stdio() {
        let s = client_config_on(Client::ClaudeDesktop, &http(Some("T")), &linux());
        assert_eq!(s.json["command"], "/opt/polyclaw/bin/polyclaw");
        assert!(s.json.get("url").is_none());
        assert!(has(&s.notes, "Settings → Connectors"));
    }

    #[test]
    fn claude_code_entries_and_commands() {
        let s = client_config_on(
            Client::ClaudeCode,
            &stdio(Some("/my dir/polyclaw.toml")),
            &linux(),
        );
        assert_eq!(s.path.as_deref(), Some(Path::new(".mcp.json")));
        assert_eq!(
            s.json,
            json!({"type": "stdio", "command": "/opt/polyclaw/bin/polyclaw",
                   "args": ["serve", "--config", "/my dir/polyclaw.toml"]})
        );
        assert_eq!(
            s.shell.as_deref(),
            Some(
                "claude mcp add --scope project polyclaw -- /opt/polyclaw/bin/polyclaw serve --config '/my dir/polyclaw.toml'"
            )
        );
        assert!(has(&s.notes, "--scope user"));

        let s = client_config_on(Client::ClaudeCode, &http(Some("POLYCLAW_TOKEN")), &linux());
        assert_eq!(
            s.json,
            json!({"type": "http", "url": "http://127.0.0.1:8765/mcp",
                   "headers": {"Authorization": "Bearer ${POLYCLAW_TOKEN}"}})
        );
        assert_eq!(
            s.shell.as_deref(),
            Some(
                "claude mcp add --scope project --transport http polyclaw http://127.0.0.1:8765/mcp --header 'Authorization: Bearer ${POLYCLAW_TOKEN}'"
            )
        );

        let s = client_config_on(Client::ClaudeCode, &http(None), &linux());
        assert_eq!(
            s.json,
            json!({"type": "http", "url": "http://127.0.0.1:8765/mcp"})
        );
    }

    #[test]
    fn cursor_entries() {
        let s = client_config_on(Client::Cursor, &stdio(None), &linux());
        assert_eq!(
            s.path.as_deref(),
            Some(Path::new("/home/me/.cursor/mcp.json"))
        );
        assert_eq!(
            s.json,
            json!({"command": "/opt/polyclaw/bin/polyclaw", "args": ["serve"]})
        );
        let s = client_config_on(Client::Cursor, &http(Some("TOK")), &linux());
        assert_eq!(
            s.json,
            json!({"url": "http://127.0.0.1:8765/mcp", "headers": {"Authorization": "Bearer ${env:TOK}"}})
        );
    }

    #[test]
    fn relative_config_paths_become_absolute() {
        let s = client_config_on(Client::Cursor, &stdio(Some("polyclaw.toml")), &linux());
        let arg = s.json["args"][2].as_str().expect("a path");
        assert!(Path::new(arg).is_absolute(), "{arg}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("plain-word_1.2/x:y=z"), "plain-word_1.2/x:y=z");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("${X}"), "'${X}'");
    }

    #[test]
    fn client_names_on_the_command_line() {
        use clap::ValueEnum;
        let names: Vec<String> = Client::value_variants()
            .iter()
            .filter_map(|c| c.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        assert_eq!(names, ["vscode", "claude-desktop", "claude-code", "cursor"]);
        assert_eq!(Client::from_str("code", true), Ok(Client::Vscode));
    }

    #[test]
    fn write_creates_file_and_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("project/.vscode/mcp.json");
        let entry = json!({"type": "stdio", "command": "/bin/polyclaw", "args": ["serve"]});
        let outcome = write_into(&path, Client::Vscode, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Created);
        assert!(outcome.backup.is_none());
        assert!(outcome.to_string().starts_with("created "));
        assert_eq!(read(&path), json!({"servers": {"polyclaw": entry}}));
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.find("\"type\"") < text.find("\"command\""),
            "readable key order:\n{text}"
        );
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn write_merges_keeping_everything_else_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("claude_desktop_config.json");
        let original = r#"{
  "preferences": {"zeta": 1, "alpha": 2.5},
  "mcpServers": {
    "zeta": {"command": "z", "args": ["1"]},
    "alpha": {"command": "a", "env": {"K": "v"}}
  },
  "globalShortcut": ""
}"#;
        std::fs::write(&path, original).expect("write");
        let entry = json!({"command": "/bin/polyclaw", "args": ["serve"]});
        let outcome = write_into(&path, Client::ClaudeDesktop, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Added);
        let backup = outcome.backup.clone().expect("a backup");
        assert_eq!(backup, dir.path().join("claude_desktop_config.json.bak"));
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), original);
        assert!(outcome.notes.is_empty());

        let merged = read(&path);
        assert_eq!(
            merged["mcpServers"]["zeta"],
            json!({"command": "z", "args": ["1"]})
        );
        assert_eq!(merged["mcpServers"]["alpha"]["env"]["K"], "v");
        assert_eq!(merged["mcpServers"]["polyclaw"], entry);
        assert_eq!(merged["preferences"]["alpha"], 2.5);
        assert_eq!(merged["globalShortcut"], "");
        let text = std::fs::read_to_string(&path).expect("readable");
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
        assert!(
            at("\"preferences\"") < at("\"mcpServers\"")
                && at("\"mcpServers\"") < at("\"globalShortcut\"")
        );
        assert!(at("\"zeta\": {") < at("\"alpha\": {") && at("\"alpha\": {") < at("\"polyclaw\""));
        assert!(at("\"zeta\": 1") < at("\"alpha\": 2.5"));
    }

    #[test]
    fn write_replaces_and_then_leaves_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".mcp.json");
        std::fs::write(
            &path,
            r#"{"mcpServers": {"polyclaw": {"command": "/old/polyclaw"}, "other": {"command": "o"}}}"#,
        )
        .expect("write");
        let entry = json!({"type": "stdio", "command": "/new/polyclaw", "args": ["serve"]});
        let outcome = write_into(&path, Client::ClaudeCode, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Replaced);
        assert!(outcome.to_string().contains(".bak"));
        let merged = read(&path);
        assert_eq!(merged["mcpServers"]["polyclaw"], entry);
        assert_eq!(merged["mcpServers"]["other"]["command"], "o");

        let before = std::fs::read_to_string(&path).expect("readable");
        std::fs::remove_file(dir.path().join(".mcp.json.bak")).expect("remove backup");
        let outcome = write_into(&path, Client::ClaudeCode, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Unchanged);
        assert!(outcome.backup.is_none());
        assert!(
            !dir.path().join(".mcp.json.bak").exists(),
            "no backup when nothing changes"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("readable"), before);
    }

    #[test]
    fn write_refuses_invalid_json_and_leaves_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcp.json");
        let broken = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"\n}\n";
        std::fs::write(&path, broken).expect("write");
        let err = write_into(&path, Client::Cursor, &json!({"command": "p"})).expect_err("refused");
        let message = err.to_string();
        assert!(
            message.contains("is not valid JSON (line 2, column 17: Unterminated object"),
            "{message}"
        );
        assert!(message.contains("nothing was changed"), "{message}");
        assert_eq!(std::fs::read_to_string(&path).expect("readable"), broken);
        assert!(!dir.path().join("mcp.json.bak").exists());

        std::fs::write(&path, "[1]").expect("write");
        let message = write_into(&path, Client::Cursor, &json!({}))
            .expect_err("refused")
            .to_string();
        assert!(message.contains("holds an array at the top"), "{message}");

        std::fs::write(&path, r#"{"mcpServers": ["x"]}"#).expect("write");
        let message = write_into(&path, Client::Cursor, &json!({}))
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("has `mcpServers` as an array"),
            "{message}"
        );
    }

    #[test]
    fn write_accepts_comments_with_a_note_and_empty_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcp.json");
        std::fs::write(
            &path,
            "{\n  // my servers\n  \"servers\": {\"a\": {\"type\": \"stdio\", \"command\": \"a\"},},\n  \"inputs\": []\n}\n",
        )
        .expect("write");
        let entry = json!({"type": "stdio", "command": "p"});
        let outcome = write_into(&path, Client::Vscode, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Added);
        assert!(has(&outcome.notes, "comments"));
        let merged = read(&path);
        assert_eq!(merged["servers"]["a"]["command"], "a");
        assert_eq!(merged["servers"]["polyclaw"], entry);
        assert_eq!(merged["inputs"], json!([]));

        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "  \n").expect("write");
        let outcome = write_into(&empty, Client::Cursor, &entry).expect("writes");
        assert_eq!(outcome.action, WriteAction::Added);
        assert_eq!(read(&empty), json!({"mcpServers": {"polyclaw": entry}}));
    }

    #[test]
    fn write_into_vscode_settings_json_uses_mcp_servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            r#"{"editor.fontSize": 14, "mcp": {"servers": {"x": {"command": "x"}}}}"#,
        )
        .expect("write");
        let entry = json!({"type": "stdio", "command": "p"});
        write_into(&path, Client::Vscode, &entry).expect("writes");
        let merged = read(&path);
        assert_eq!(merged["mcp"]["servers"]["polyclaw"], entry);
        assert_eq!(merged["mcp"]["servers"]["x"]["command"], "x");
        assert_eq!(merged["editor.fontSize"], 14);
        assert!(merged.get("servers").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn write_follows_symlinks_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("dotfiles-mcp.json");
        std::fs::write(&real, "{}").expect("write");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let link = dir.path().join("mcp.json");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let outcome = write_into(&link, Client::Cursor, &json!({"command": "p"})).expect("writes");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        assert_eq!(read(&real)["mcpServers"]["polyclaw"]["command"], "p");
        assert_eq!(
            outcome.path,
            std::fs::canonicalize(&real).expect("canonical")
        );
        let mode = std::fs::metadata(&real).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn written_files_import_without_polyclaw_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".mcp.json");
        std::fs::write(
            &path,
            r#"{"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}"#,
        )
        .expect("write");
        let snippet = client_config_on(Client::ClaudeCode, &stdio(None), &linux());
        write_into(&path, Client::ClaudeCode, &snippet.json).expect("writes");
        let text = std::fs::read_to_string(&path).expect("readable");
        let (config, warnings) =
            crate::clients::import::import_mcp_servers(&path, &text).expect("imports");
        assert_eq!(config.servers.keys().collect::<Vec<_>>(), ["time"]);
        assert!(has(&warnings, "skipped server `polyclaw`"));
    }

    #[test]
    fn ordered_json_round_trips() {
        let text = r#"{"b":1,"a":[true,null,-2,3.5,"s",{"z":{},"y":[]}],"c":18446744073709551615}"#;
        let parsed = super::jsonc::parse(text)
            .expect("parses")
            .value
            .expect("a value");
        let value = Json::from_ast(parsed);
        assert_eq!(serde_json::to_string(&value).expect("serializes"), text);
        let plain: Value = serde_json::from_str(text).expect("parses");
        assert_eq!(value.to_value(), plain);
    }
}
