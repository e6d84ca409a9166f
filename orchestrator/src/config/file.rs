//! The on-disk shape of `polyclaw.toml`, exactly as serde reads it. Unknown keys are errors,
//! so a typo never silently disables a setting. Semantic checks live in `spec.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigIssue;

use super::policy::{AuditConfig, RawPolicy};
use super::spec::Expose;
use crate::registry::pins::DriftPolicy;

/// The whole file.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// One table per server; the table's key is the server's name.
    #[serde(default)]
    pub servers: BTreeMap<String, RawServer>,
    /// Settings of the MCP front door that clients connect to.
    #[serde(default, skip_serializing_if = "FrontConfig::is_default")]
    pub front: FrontConfig,
    /// An OpenAI-compatible chat endpoint that writes plans (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmConfig>,
    /// Planning and plan runs.
    #[serde(default, skip_serializing_if = "PlansConfig::is_default")]
    pub plans: PlansConfig,
    /// Protections against servers that change under the client.
    #[serde(default, skip_serializing_if = "SecurityConfig::is_default")]
    pub security: SecurityConfig,
    /// Server generation: templates, the catalog of known servers, approval.
    #[serde(default, skip_serializing_if = "GenerateConfig::is_default")]
    pub generate: GenerateConfig,
    /// A TOML file of `NAME = "value"` secrets, read when a server's `secrets` are not in the
    /// environment. Keep it outside the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_file: Option<String>,
    /// Guardrails: which tool calls run, which ask a person or a model, which never run.
    #[serde(default, skip_serializing_if = "RawPolicy::is_default")]
    pub policy: RawPolicy,
    /// The audit trail of calls, decisions, approvals and registry changes.
    #[serde(default, skip_serializing_if = "AuditConfig::is_default")]
    pub audit: AuditConfig,
}

/// `[llm]`: any OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key (sent as a bearer token), if one is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Seconds one completion may take (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// `[plans]`: where runs are kept and how hard to try for a valid proposal.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PlansConfig {
    /// Folder for run records; default `$XDG_STATE_HOME/polyclaw` or `~/.local/state/polyclaw`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// How many times a model may propose a plan before polyclaw gives up (default 3).
    pub max_proposals: u32,
    /// How many times a failed step may be planned again in one run (default 2).
    pub max_replans: u32,
}

impl Default for PlansConfig {
    fn default() -> Self {
        Self {
            state_dir: None,
            max_proposals: 3,
            max_replans: 2,
        }
    }
}

impl PlansConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[generate]`: how missing capabilities become new servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GenerateConfig {
    /// Folder of templates; default `templates/` of polyclaw's source tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates_dir: Option<String>,
    /// The catalog of known servers; default `catalog/servers.toml` of the source tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Let a plan's missing capability be generated without asking first (default false:
    /// polyclaw reports what it would generate and waits for approval).
    pub auto_approve: bool,
    /// Base image of the `python` template (python3 ≥ 3.10 with the `mcp` 2.x SDK importable);
    /// default `polyclaw/python-base:bookworm-mcp2.3.0`, built by `polyclaw images base python`
    /// (or by the first `python` generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_base: Option<String>,
}

impl GenerateConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One `[servers.NAME]` table. Which transport it uses is given by its keys, as in the
/// `mcpServers` format of MCP clients: `command` for a local process, `url` for a remote
/// Streamable HTTP server.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// The program to run (stdio transport).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables for the process; values may use `${env:NAME}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The URL of a remote Streamable HTTP MCP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers sent with every request to `url`; values may use `${env:NAME}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A container image that runs a stdio MCP server (Docker runtime). `args` and `env` are
    /// passed to it; it runs hardened unless the keys below relax it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// With `image`: the server speaks Streamable HTTP on this port inside the container
    /// (instead of stdio); polyclaw reaches it over a private network it creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// With `port`: the MCP endpoint's path (default `/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// With `image`: how to run the server when Docker is unreachable or the image is not
    /// built: a local process `{ command = "...", args = [...], env = {...}, cwd = "..." }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<RawFallback>,
    /// With `image`: containers kept created and started ahead of need, so a start (first
    /// use, after an idle stop, a restart, a new per-client instance) does not pay for
    /// container start. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<u32>,
    /// One instance per client session instead of one shared by all clients (for servers
    /// that keep per-user state). Stopped when the session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_client: Option<bool>,
    /// Names of secrets the server gets, resolved host-side from the environment or the
    /// `secrets_file`; never printed, never shown to the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// How secrets reach a container: `env` (default) or `file` (`/run/secrets/NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_as: Option<String>,
    /// Host folders mounted into the container: `HOST:CONTAINER` (read-only) or
    /// `HOST:CONTAINER:rw`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<String>,
    /// Container network: `none` (default), `bridge`, or the name of a network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Read-only root filesystem (default true; a small tmpfs is at /tmp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Memory limit in MiB (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU limit (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Process limit (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    /// User inside the container (default `65534:65534`, nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The prefix of this server's tool and prompt names; defaults to the server's name.
    /// `""` serves names unprefixed when they collide with nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `lazy` (default): start on first use; `boot`: start with polyclaw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Seconds a single request to this server may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Stop the server after this many seconds without a request (it starts again on the
    /// next use). Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
    /// Seconds between health pings of a running server (default 15); two missed pings in a
    /// row restart it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_interval: Option<f64>,
    /// `false` keeps the entry but never starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Free text shown by `servers list` and `polyclaw__list_servers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `fallback = { ... }` of an `image` server: the same server as a local process.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFallback {
    /// The program to run.
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables; values may use `${env:NAME}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// `[security]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// What happens when a tool's definition changes after polyclaw first saw it (its SHA-256
    /// is kept in the state folder): `block` (default: listed with a notice, calls refused
    /// until `polyclaw tools approve`), `warn` (flagged, calls pass) or `allow`.
    pub tool_drift: DriftPolicy,
}

impl SecurityConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[front]`: how the front door serves clients.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FrontConfig {
    /// `all` (default) serves every downstream tool; `search` serves only polyclaw's own tools,
    /// whose `find_tools` and `call_tool` reach the rest.
    pub expose: Expose,
    /// Browser origins allowed to call the HTTP front door, besides loopback ones
    /// (e.g. `https://app.example.com`). Requests with another `Origin` are refused.
    pub allowed_origins: Vec<String>,
    /// Host names (or `host:port`) the HTTP front door answers to, besides loopback ones.
    pub allowed_hosts: Vec<String>,
    /// Largest accepted HTTP request body, in bytes.
    pub max_request_bytes: usize,
    /// Forward each `tools/call` that needs no translation as raw JSON (the fast route;
    /// default). `false` carries every call through rmcp's typed model, e.g. to rule the fast
    /// route out while debugging; both behave the same.
    pub forward_raw: bool,
}

impl Default for FrontConfig {
    fn default() -> Self {
        Self {
            expose: Expose::All,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_request_bytes: 4 * 1024 * 1024,
            forward_raw: true,
        }
    }
}

impl FrontConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub(super) fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if origin != "null" && !origin.contains("://") {
                issues.push(ConfigIssue {
                    path: format!("front.allowed_origins[{i}]"),
                    message: format!(
                        "`{origin}` has no scheme; write it as a browser sends it, e.g. `https://{origin}`"
                    ),
                });
            }
        }
        if self.max_request_bytes < 1024 {
            issues.push(ConfigIssue {
                path: "front.max_request_bytes".into(),
                message: format!(
                    "{} bytes is too small for any MCP request; use at least 1024",
                    self.max_request_bytes
                ),
            });
        }
    }
}
