//! The config file (JSON): the server's name and description, the API's
//! base URL and timeout, and the OpenAPI document whose operations become
//! the tools. Loading validates everything and lists every problem.

use std::{path::Path, sync::Arc, time::Duration};

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use crate::openapi::{self, Operation};

/// Default and largest `timeout_secs`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// The config as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    description: Option<String>,
    base_url: Option<String>,
    timeout_secs: Option<u64>,
    document: Value,
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// serverInfo.name.
    pub name: String,
    /// Sent to clients as the server's instructions.
    pub description: Option<String>,
    /// The API's base URL; an operation's path is appended to it.
    pub base_url: Url,
    /// Per-request timeout.
    pub timeout: Duration,
    pub operations: Vec<Arc<Operation>>,
}

impl Config {
    /// Reads and validates the config at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| anyhow::anyhow!("config {}: {err}", path.display()))?;
        Self::parse(&text).map_err(|err| anyhow::anyhow!("config {}: {err}", path.display()))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|err| anyhow::anyhow!("invalid JSON: {err}"))?;
        validate(raw)
    }

    /// An operation by tool name.
    pub fn operation(&self, tool: &str) -> Option<&Arc<Operation>> {
        self.operations.iter().find(|op| op.tool == tool)
    }

    /// The tool names, in order.
    pub fn tool_names(&self) -> Vec<&str> {
        self.operations.iter().map(|op| op.tool.as_str()).collect()
    }
}

fn validate(raw: RawConfig) -> anyhow::Result<Config> {
    let mut errors = Vec::new();
    if raw.name.trim().is_empty() {
        errors.push("name is empty: give the server a name".to_owned());
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        errors.push(format!(
            "timeout_secs = {timeout_secs}: use 1 to {MAX_TIMEOUT_SECS} (default {DEFAULT_TIMEOUT_SECS})"
        ));
    }
    let mut operations = Vec::new();
    let mut base_url = None;
    match check_document(&raw.document) {
        Err(message) => errors.push(message),
        Ok(()) => {
            match resolve_base_url(raw.base_url.as_deref(), &raw.document) {
                Ok(url) => base_url = Some(url),
                Err(message) => errors.push(message),
            }
            match openapi::operations(&raw.document) {
                Ok(found) => operations = found,
                Err(problems) => {
                    errors.extend(problems.into_iter().map(|p| format!("document: {p}")))
                }
            }
        }
    }
    match (base_url, errors.is_empty()) {
        (Some(base_url), true) => Ok(Config {
            name: raw.name,
            description: raw.description.filter(|text| !text.trim().is_empty()),
            base_url,
            timeout: Duration::from_secs(timeout_secs),
            operations: operations.into_iter().map(Arc::new).collect(),
        }),
        _ => anyhow::bail!(
            "{} problem(s):\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        ),
    }
}

/// The document must be an OpenAPI 3.x object.
fn check_document(document: &Value) -> Result<(), String> {
    let Some(object) = document.as_object() else {
        return Err(
            "document must be the OpenAPI document itself, as a JSON object (convert YAML to JSON)"
                .to_owned(),
        );
    };
    if let Some(version) = object.get("swagger") {
        return Err(format!(
            "document is Swagger {version} (OpenAPI 2): only OpenAPI 3.0 and 3.1 are supported; \
             convert it to OpenAPI 3 first"
        ));
    }
    match object.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.") => Ok(()),
        Some(version) => Err(format!(
            "document: openapi {version:?} is not supported: use an OpenAPI 3.0 or 3.1 document"
        )),
        None => Err(
            "document has no \"openapi\" version: it must be an OpenAPI 3.0 or 3.1 document"
                .to_owned(),
        ),
    }
}

/// `base_url` of the config, else the document's `servers[0].url` with its
/// variables replaced by their defaults; either must be absolute http(s).
pub fn resolve_base_url(base_url: Option<&str>, document: &Value) -> Result<Url, String> {
    if let Some(base_url) = base_url {
        return absolute(base_url).map_err(|why| format!("base_url {base_url:?} {why}"));
    }
    let Some(server) = document.pointer("/servers/0") else {
        return Err(
            "no base URL: set base_url in the config or servers[0].url in the document".to_owned(),
        );
    };
    let Some(template) = server.get("url").and_then(Value::as_str) else {
        return Err(
            "document servers[0] has no url: set base_url in the config or servers[0].url in the document"
                .to_owned(),
        );
    };
    let url = substitute(template, server.get("variables"))
        .map_err(|why| format!("document servers[0].url {template:?}: {why}"))?;
    absolute(&url).map_err(|why| {
        format!(
            "document servers[0].url {url:?} {why}: set base_url in the config to the API's \
             absolute URL (e.g. http://host:port/api)"
        )
    })
}

/// Replaces the `{name}`s of a server URL with their variables' defaults.
fn substitute(template: &str, variables: Option<&Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        let (name, after) = after
            .split_once('}')
            .ok_or_else(|| "a '{' is not closed".to_owned())?;
        let value = variables
            .and_then(|vars| vars.get(name))
            .and_then(|var| var.get("default"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("variable {{{name}}} has no default in servers[0].variables"))?;
        out.push_str(value);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses an absolute http(s) URL without query or fragment.
fn absolute(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|err| format!("is not an absolute URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("is not an http:// or https:// URL with a host".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(value: Value) -> anyhow::Result<Config> {
        Config::parse(&value.to_string())
    }

    fn document() -> Value {
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
               "paths": {"/pets": {"get": {"operationId": "listPets"}}}})
    }

    #[test]
    fn base_url_from_config_or_servers() {
        let doc = json!({"servers": [{"url": "https://{host}:{port}/v1", "variables": {
            "host": {"default": "api.example.com"}, "port": {"default": "8443", "enum": ["8443"]}
        }}]});
        assert_eq!(
            resolve_base_url(None, &doc).map(String::from),
            Ok("https://api.example.com:8443/v1".to_owned())
        );
        assert_eq!(
            resolve_base_url(Some("http://127.0.0.1:9/api/"), &doc).map(String::from),
            Ok("http://127.0.0.1:9/api/".to_owned())
        );
        let relative = json!({"servers": [{"url": "/api/v3"}]});
        assert!(
            resolve_base_url(None, &relative)
                .is_err_and(|e| e.contains("\"/api/v3\"") && e.contains("set base_url"))
        );
        assert!(
            resolve_base_url(None, &json!({}))
                .is_err_and(|e| e.contains("set base_url in the config or servers[0].url"))
        );
        let missing = json!({"servers": [{"url": "http://{host}/"}]});
        assert!(
            resolve_base_url(None, &missing).is_err_and(|e| e.contains("{host} has no default"))
        );
        assert!(resolve_base_url(Some("ftp://x/"), &doc).is_err());
        assert!(resolve_base_url(Some("http://x/?a=1"), &doc).is_err());
    }

    #[test]
    fn loads_a_valid_config() {
        let loaded = config(json!({
            "name": "pets", "description": "Pet store", "base_url": "http://localhost:8080",
            "timeout_secs": 5, "document": document()
        }))
        .unwrap();
        assert_eq!(loaded.name, "pets");
        assert_eq!(loaded.description.as_deref(), Some("Pet store"));
        assert_eq!(loaded.timeout, Duration::from_secs(5));
        assert_eq!(loaded.tool_names(), ["listPets"]);
        assert!(loaded.operation("listPets").is_some());
    }

    #[test]
    fn config_errors_say_what_to_fix() {
        let err = |value: Value| {
            config(value)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(json!({"name": "x"})).contains("missing field `document`"));
        assert!(
            err(json!({"name": "x", "document": document(), "bogus": 1}))
                .contains("unknown field `bogus`")
        );
        let message = err(json!({"name": " ", "timeout_secs": 0, "document": document()}));
        assert!(message.contains("3 problem(s)"), "{message}");
        assert!(message.contains("name is empty"), "{message}");
        assert!(message.contains("timeout_secs = 0"), "{message}");
        assert!(message.contains("set base_url"), "{message}");
        assert!(
            err(json!({"name": "x", "document": {"swagger": "2.0", "paths": {}}}))
                .contains("only OpenAPI 3.0 and 3.1")
        );
        assert!(err(json!({"name": "x", "document": "openapi: 3.0.0"})).contains("JSON object"));
        assert!(
            err(json!({"name": "x", "base_url": "http://h/",
                       "document": {"openapi": "3.1.0", "paths": {}}}))
            .contains("no operations")
        );
        assert!(err(json!({"name": "x"})).contains("invalid JSON"));
    }
}
