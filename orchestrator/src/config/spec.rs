//! A server entry after validation: the transport is decided, names are checked, references are
//! resolved. Everything downstream of config works on [`ServerSpec`], never on raw TOML.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::registry::names::{OWN_SERVER, SEPARATOR};

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
    /// A container running a stdio MCP server, through the Docker Engine API.
    Docker {
        /// The image (must exist locally: nothing is pulled).
        image: String,
        /// Arguments passed to the image's entrypoint, references resolved.
        args: Vec<String>,
        /// Extra environment, references resolved; never printed.
        #[serde(skip)]
        env: BTreeMap<String, String>,
        /// Host folders mounted into the container.
        mounts: Vec<Mount>,
        /// Isolation and limits.
        container: ContainerSettings,
        /// `Some(port)`: the server speaks Streamable HTTP on this port inside the container,
        /// reached over a network; `None`: stdio on the attached streams.
        port: Option<u16>,
        /// The MCP endpoint path of a `port` server.
        path: String,
        /// How to run the server when the engine is unreachable or the image is missing.
        fallback: Option<Box<Fallback>>,
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

/// Name/value pairs of a transport's settings.
pub type Pairs<'a> = Vec<(&'a String, &'a String)>;

impl Transport {
    /// Its environment (a container's fallback's too) and its headers, as name/value pairs.
    #[must_use]
    pub fn env_and_headers(&self) -> (Pairs<'_>, Pairs<'_>) {
        match self {
            Self::Process { env, .. } => (env.iter().collect(), Vec::new()),
            Self::Docker { env, fallback, .. } => {
                let mut all: Vec<_> = env.iter().collect();
                if let Some(f) = fallback {
                    all.extend(f.env.iter());
                }
                (all, Vec::new())
            }
            Self::Http { headers, .. } => (Vec::new(), headers.iter().collect()),
        }
    }
}

/// The local process that stands in for an `image` server without Docker or its image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fallback {
    /// Program to run.
    pub command: String,
    /// Its arguments, references resolved.
    pub args: Vec<String>,
    /// Extra environment, references resolved; never printed.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

impl Fallback {
    /// The fallback as a process transport.
    #[must_use]
    pub fn transport(&self) -> Transport {
        Transport::Process {
            command: self.command.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
        }
    }
}

/// The `network` value that means polyclaw's own private network (the default of `port`
/// servers): internal (no route out), shared only by polyclaw and its containers.
pub const PRIVATE_NETWORK: &str = "private";

/// A host folder mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Absolute host path.
    pub host: PathBuf,
    /// Absolute path inside the container.
    pub container: String,
    /// Read-only unless `:rw` was given.
    pub read_only: bool,
}

/// A container's isolation and limits: hardened by default, each relaxable per server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerSettings {
    /// `none` (default), `bridge`, or a network name.
    pub network: String,
    /// Read-only root filesystem (a tmpfs is mounted at /tmp).
    pub read_only: bool,
    /// Memory limit, MiB.
    pub memory_mb: u64,
    /// CPU limit.
    pub cpus: f64,
    /// Process limit.
    pub pids: i64,
    /// User inside the container.
    pub user: String,
}

impl Default for ContainerSettings {
    fn default() -> Self {
        Self {
            network: "none".into(),
            read_only: true,
            memory_mb: 512,
            cpus: 1.0,
            pids: 128,
            user: "65534:65534".into(),
        }
    }
}

/// How secrets reach a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsAs {
    /// As environment variables (the only way for processes).
    #[default]
    Env,
    /// As files `/run/secrets/NAME` (containers).
    File,
}

/// Secret values by name. Never printed: `Debug` shows only the names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<(String, String)>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}=<redacted>")))
            .finish()
    }
}

impl Secrets {
    /// Replaces every secret value found in `text` with `<redacted:NAME>`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.0 {
            if value.len() >= 4 {
                out = out.replace(value.as_str(), &format!("<redacted:{name}>"));
            }
        }
        out
    }
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
    /// Stopped after this long without a request; `None`: never.
    #[serde(skip)]
    pub idle_timeout: Option<Duration>,
    /// Time between health pings.
    #[serde(skip)]
    pub health_interval: Duration,
    /// Its secrets, resolved; never serialized.
    #[serde(skip)]
    pub secrets: Secrets,
    /// How its secrets are handed over.
    pub secrets_as: SecretsAs,
    /// One instance per client session instead of one shared instance.
    pub per_client: bool,
    /// Containers kept started ahead of need (image servers).
    pub warm: u32,
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
            Transport::Docker {
                image,
                args,
                port,
                path,
                ..
            } => {
                let mut s = format!("docker {image}");
                for a in args {
                    s.push(' ');
                    s.push_str(a);
                }
                if let Some(port) = port {
                    s.push_str(&format!(" (http :{port}{path})"));
                }
                s
            }
        }
    }

    /// `process` or `http`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.transport {
            Transport::Process { .. } => "process",
            Transport::Http { .. } => "http",
            Transport::Docker { .. } => "docker",
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
