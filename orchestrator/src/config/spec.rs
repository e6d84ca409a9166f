//! A server entry after validation: the transport is decided, names are checked, references are
//! resolved. Everything downstream of config works on [`ServerSpec`], never on raw TOML.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigIssue;
use crate::registry::names::{OWN_SERVER, SEPARATOR};

use super::file::RawServer;
use super::interpolate::Interpolator;

/// How the front door exposes tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expose {
    /// Every downstream tool, namespaced.
    #[default]
    All,
    /// Only polyclaw's own tools; `polyclaw__find_tools` and `polyclaw__call_tool` reach the rest.
    Search,
}

/// When a server's process is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPolicy {
    /// On first use (a list or a call that needs it).
    #[default]
    Lazy,
    /// When polyclaw starts.
    Boot,
}

/// How polyclaw reaches a server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transport {
    /// A local child process speaking MCP over stdin/stdout.
    Process {
        /// Program to run.
        command: String,
        /// Its arguments, references resolved.
        args: Vec<String>,
        /// Extra environment, references resolved. Values are secrets until proven otherwise:
        /// they are never printed.
        #[serde(skip)]
        env: BTreeMap<String, String>,
        /// Working directory.
        cwd: Option<PathBuf>,
    },
    /// A remote Streamable HTTP endpoint.
    Http {
        /// The endpoint URL.
        url: String,
        /// Extra headers, references resolved; never printed.
        #[serde(skip)]
        headers: BTreeMap<String, String>,
    },
}

/// A validated server entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerSpec {
    /// The server's name: the key of its table, unique, `[A-Za-z0-9_-]`, no `__`.
    pub name: String,
    /// The prefix of its tool and prompt names (`""` = unprefixed where nothing collides).
    pub prefix: String,
    /// How to reach it.
    pub transport: Transport,
    /// When to start it.
    pub start: StartPolicy,
    /// Deadline of one request to it.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Whether it may be started at all.
    pub enabled: bool,
    /// Free text for listings.
    pub description: Option<String>,
}

impl ServerSpec {
    /// The default deadline of one downstream request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// A short human description of the transport, without secrets.
    #[must_use]
    pub fn endpoint(&self) -> String {
        match &self.transport {
            Transport::Process { command, args, .. } => {
                let mut s = command.clone();
                for a in args {
                    s.push(' ');
                    s.push_str(a);
                }
                s
            }
            Transport::Http { url, .. } => url.clone(),
        }
    }

    /// `process` or `http`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.transport {
            Transport::Process { .. } => "process",
            Transport::Http { .. } => "http",
        }
    }
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Checks a server name, returning why it is unusable.
///
/// # Errors
/// A sentence saying what is wrong and what a good name looks like.
pub fn validate_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 48 {
        return Err("a server name must have 1 to 48 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` may only use letters, digits, `-` and `_` (it becomes part of tool names)"
        ));
    }
    if name.contains(SEPARATOR) {
        return Err(format!(
            "`{name}` contains `{SEPARATOR}`, which separates server and tool in tool names"
        ));
    }
    if name == OWN_SERVER {
        return Err(format!(
            "`{OWN_SERVER}` is reserved for polyclaw's own tools"
        ));
    }
    Ok(())
}

/// Validates one raw table into a spec; pushes every problem (with its key path) into `issues`.
pub fn validate(
    name: &str,
    raw: &RawServer,
    vars: &Interpolator,
    issues: &mut Vec<ConfigIssue>,
) -> Option<ServerSpec> {
    let before = issues.len();
    let at = |key: &str| format!("servers.{name}.{key}");
    let mut c = Check { issues, vars };

    if let Err(message) = validate_server_name(name) {
        c.push(format!("servers.{name}"), message);
    }
    let kinds: Vec<&str> = [
        raw.command.as_ref().map(|_| "command"),
        raw.url.as_ref().map(|_| "url"),
        raw.image.as_ref().map(|_| "image"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if kinds.len() > 1 {
        c.push(
            format!("servers.{name}"),
            format!(
                "has both {}; keep one: `command` runs a local process, `url` reaches a remote server",
                kinds.join(" and ")
            ),
        );
    }
    if raw.image.is_some() {
        c.push(
            at("image"),
            "Docker servers (`image = ...`) are not supported by this build yet; run the server \
             as a local process with `command`/`args`, or reach it over HTTP with `url`"
                .into(),
        );
    }
    let transport = if let Some(command) = &raw.command {
        let command = c.resolve(at("command"), command);
        let args = raw
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| c.resolve(at(&format!("args[{i}]")), a))
            .collect();
        let env = raw
            .env
            .iter()
            .map(|(k, v)| (k.clone(), c.resolve(at(&format!("env.{k}")), v)))
            .collect();
        let cwd = raw
            .cwd
            .as_ref()
            .map(|dir| PathBuf::from(c.resolve(at("cwd"), dir)));
        if command.trim().is_empty() {
            c.push(at("command"), "is empty; name the program to run".into());
        }
        if !raw.headers.is_empty() {
            c.push(
                at("headers"),
                "headers only apply to `url` servers; pass settings to a process with `env`".into(),
            );
        }
        Some(Transport::Process {
            command,
            args,
            env,
            cwd,
        })
    } else if let Some(url) = &raw.url {
        let url = c.resolve(at("url"), url);
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => c.push(
                at("url"),
                format!(
                    "scheme `{}` is not supported; use http:// or https://",
                    u.scheme()
                ),
            ),
            Err(e) => c.push(
                at("url"),
                format!("`{url}` is not a URL ({e}); write e.g. `http://127.0.0.1:9000/mcp`"),
            ),
        }
        let headers = raw
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), c.resolve(at(&format!("headers.{k}")), v)))
            .collect::<BTreeMap<_, _>>();
        for (k, v) in &headers {
            if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                c.push(
                    at(&format!("headers.{k}")),
                    format!("`{k}` is not a valid HTTP header name"),
                );
            } else if http::HeaderValue::from_str(v).is_err() {
                c.push(
                    at(&format!("headers.{k}")),
                    "the value has characters not allowed in an HTTP header".into(),
                );
            }
        }
        for key in ["args", "env", "cwd"] {
            let set = match key {
                "args" => !raw.args.is_empty(),
                "env" => !raw.env.is_empty(),
                _ => raw.cwd.is_some(),
            };
            if set {
                c.push(
                    at(key),
                    format!("`{key}` only applies to `command` servers"),
                );
            }
        }
        Some(Transport::Http { url, headers })
    } else {
        if raw.image.is_none() {
            c.push(
                format!("servers.{name}"),
                "says neither how to run nor where to reach the server; add `command = \"...\"` \
                 (a local stdio server) or `url = \"http://...\"` (a remote one)"
                    .into(),
            );
        }
        None
    };
    let prefix = raw.prefix.clone().unwrap_or_else(|| name.to_string());
    if !prefix.is_empty()
        && let Err(message) = validate_server_name(&prefix)
    {
        c.push(at("prefix"), message.replace("server name", "prefix"));
    }
    let start = match raw.start.as_deref() {
        None | Some("lazy") => StartPolicy::Lazy,
        Some("boot") => StartPolicy::Boot,
        Some(other) => {
            c.push(
                at("start"),
                format!("`{other}` is not a start policy; use `lazy` or `boot`"),
            );
            StartPolicy::Lazy
        }
    };
    let timeout = match raw.timeout {
        None => ServerSpec::DEFAULT_TIMEOUT,
        Some(t) if t.is_finite() && t > 0.0 && t <= 86_400.0 => Duration::from_secs_f64(t),
        Some(t) => {
            c.push(
                at("timeout"),
                format!("{t} is not a number of seconds between 0 and 86400"),
            );
            ServerSpec::DEFAULT_TIMEOUT
        }
    };
    let issues = c.issues;
    if issues.len() > before {
        return None;
    }
    Some(ServerSpec {
        name: name.to_string(),
        prefix,
        transport: transport?,
        start,
        timeout,
        enabled: raw.enabled.unwrap_or(true),
        description: raw.description.clone(),
    })
}

/// Collects issues while validating one server.
struct Check<'a> {
    issues: &'a mut Vec<ConfigIssue>,
    vars: &'a Interpolator,
}

impl Check<'_> {
    fn push(&mut self, path: String, message: String) {
        self.issues.push(ConfigIssue { path, message });
    }

    /// Resolves references; a failure is recorded and yields an empty string.
    fn resolve(&mut self, key: String, value: &str) -> String {
        match self.vars.resolve(value) {
            Ok(v) => v,
            Err(message) => {
                self.push(key, message);
                String::new()
            }
        }
    }
}
