//! The one error type of the `polyclaw` library. Each variant's message says what went wrong
//! and what to do next; causes are kept in `#[source]`, never repeated in the message.

use std::path::PathBuf;

/// One problem found in a configuration, with the key path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where: `servers.git.command`, `front.allowed_origins[0]`, or a byte offset for syntax.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Errors of the polyclaw library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config file could not be read.
    #[error("cannot read config file {path}; check the path given to --config")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A configuration has problems; all of them are listed.
    #[error("{source_name} has {} problem(s):\n{}", issues.len(), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    ConfigInvalid {
        /// The file (or "the embedded default configuration").
        source_name: String,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
    /// An `mcpServers` JSON file could not be converted.
    #[error("cannot import {path}: {message}")]
    Import {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A server name that the registry does not hold.
    #[error("no server named `{0}`; `polyclaw servers list` shows the registry")]
    UnknownServer(String),
    /// A server name that is taken.
    #[error("a server named `{0}` already exists; remove it first or pick another name")]
    DuplicateServer(String),
    /// A tool name that no server serves.
    #[error(
        "no tool named `{0}`; `polyclaw tools list` (or the `polyclaw__find_tools` tool) shows what exists"
    )]
    UnknownTool(String),
    /// A tool whose definition changed since first seen, not yet approved.
    #[error("tool `{tool}` is blocked: {reason}")]
    ToolBlocked {
        /// Its exposed name.
        tool: String,
        /// What changed and how to approve it.
        reason: String,
    },
    /// A server could not be started or reached.
    #[error("server `{server}` is unavailable: {reason}")]
    Unavailable {
        /// The server.
        server: String,
        /// Why, with the fix where one is known.
        reason: String,
    },
    /// A downstream request failed.
    #[error("server `{server}` failed the request: {message}")]
    Downstream {
        /// The server.
        server: String,
        /// Its error.
        message: String,
    },
    /// A downstream server answered with a JSON-RPC error; it is relayed to the client as is.
    #[error("server `{server}` returned error {}: {}", error.code.0, error.message)]
    Remote {
        /// The server.
        server: String,
        /// Its error, unchanged.
        error: rmcp::ErrorData,
    },
    /// A downstream request passed its deadline.
    #[error(
        "server `{server}` did not answer within {secs:.1} s; raise `servers.{server}.timeout` if it is just slow"
    )]
    Timeout {
        /// The server.
        server: String,
        /// The deadline.
        secs: f64,
    },
    /// The client cancelled the call; the server was told (`notifications/cancelled`).
    #[error("the call to server `{server}` was cancelled by the client")]
    Cancelled {
        /// The server.
        server: String,
    },
    /// The front door could not bind or serve.
    #[error("cannot serve on {addr}; is another process using it? pick another with --http ADDR")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A plan could not be made or run.
    #[error("{0}")]
    Planning(String),
    /// Generating a server failed at one stage; nothing of it was left behind (no image, no
    /// container, no registration).
    #[error("generating server `{server}` failed at stage `{stage}`: {message}")]
    Generate {
        /// The server's name from the spec (or `?` when the spec has none).
        server: String,
        /// The stage: validate, render, build, quarantine, contract, register, hot-add.
        stage: &'static str,
        /// What went wrong and what to do (build log tail, failing example).
        message: String,
    },
    /// The policy, a person or a model refused a tool call; nothing of it ran.
    #[error(
        "polyclaw did not run `{tool}`: {by} refused it ({reason}). Tell the user it was refused and why; do not retry it unchanged"
    )]
    Denied {
        /// The tool (exposed name), or "the plan".
        tool: String,
        /// Who refused: the policy, the user, a model, `polyclaw approvals`, nobody in time.
        by: String,
        /// Why.
        reason: String,
    },
    /// A tool call waits in the approvals queue for a person; nothing of it ran.
    #[error(
        "`{tool}` needs a person's approval and this client cannot ask for it. Tell the user to run `polyclaw approvals approve {id}` (or `polyclaw approvals deny {id}`) within {secs} s, then call it again with the same arguments"
    )]
    ApprovalPending {
        /// The tool (exposed name), or "the plan".
        tool: String,
        /// The approval's id.
        id: String,
        /// Seconds left before it counts as denied.
        secs: u64,
    },
    /// The call needs the client's input first (a 2026-07-28 client asked for approval with
    /// `input_required`); the front answers with the result itself.
    #[error("the call needs the client's answer first (input_required)")]
    InputRequired(Box<rmcp::model::InputRequiredResult>),
    /// No approval with this id.
    #[error("no approval `{0}`; `polyclaw approvals list --all` shows them")]
    UnknownApproval(String),
    /// An approval that is no longer pending.
    #[error("approval `{id}` is {state}; only pending approvals can be decided")]
    ApprovalClosed {
        /// The approval.
        id: String,
        /// Where it stands: approved, denied, used, expired.
        state: String,
    },
    /// Bad arguments to one of polyclaw's own tools or commands.
    #[error("{0}")]
    InvalidInput(String),
    /// Other I/O.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
