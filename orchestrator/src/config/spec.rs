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
    let transport = if let Some(command) = &raw.command {
        let command = c.resolve(at("command"), command);
        let args = c.resolve_list(&at, "args", &raw.args);
        let env = c.resolve_map(&at, "env", &raw.env);
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
        let headers = c.resolve_map(&at, "headers", &raw.headers);
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
    } else if let Some(image) = &raw.image {
        let image = c.resolve(at("image"), image);
        if image.trim().is_empty() || image.contains(char::is_whitespace) {
            c.push(
                at("image"),
                format!("`{image}` is not an image reference; write e.g. `polyclaw/fs:latest`"),
            );
        }
        let args = c.resolve_list(&at, "args", &raw.args);
        let env = c.resolve_map(&at, "env", &raw.env);
        let mut mounts = Vec::new();
        for (i, m) in raw.mounts.iter().enumerate() {
            let m = c.resolve(at(&format!("mounts[{i}]")), m);
            match parse_mount(&m) {
                Ok(mount) => mounts.push(mount),
                Err(message) => c.push(at(&format!("mounts[{i}]")), message),
            }
        }
        let mut container = ContainerSettings::default();
        if raw.port.is_some() {
            container.network = PRIVATE_NETWORK.into();
        }
        if let Some(n) = &raw.network {
            if n.trim().is_empty() {
                c.push(
                    at("network"),
                    "is empty; use `none`, `private`, `bridge` or a network name".into(),
                );
            } else if n == "none" && raw.port.is_some() {
                c.push(
                    at("network"),
                    "a `port` server is reached over a network; leave `network` unset (polyclaw's private network) or name one".into(),
                );
            }
            container.network.clone_from(n);
        }
        let path = raw.path.clone().unwrap_or_else(|| "/mcp".into());
        if !path.starts_with('/') {
            c.push(
                at("path"),
                format!("`{path}` must start with `/`, e.g. `/mcp`"),
            );
        }
        if raw.port == Some(0) {
            c.push(
                at("port"),
                "0 is not a port; give the port the server listens on inside the container".into(),
            );
        }
        let fallback = raw.fallback.as_ref().map(|f| {
            let fat = |key: &str| format!("servers.{name}.fallback.{key}");
            let command = c.resolve(fat("command"), &f.command);
            if command.trim().is_empty() {
                c.push(fat("command"), "is empty; name the program to run".into());
            }
            Box::new(Fallback {
                command,
                args: c.resolve_list(&fat, "args", &f.args),
                env: c.resolve_map(&fat, "env", &f.env),
                cwd: f
                    .cwd
                    .as_ref()
                    .map(|d| PathBuf::from(c.resolve(fat("cwd"), d))),
            })
        });
        if let Some(r) = raw.read_only {
            container.read_only = r;
        }
        match raw.memory_mb {
            Some(m) if !(16..=1_048_576).contains(&m) => c.push(
                at("memory_mb"),
                format!("{m} MiB is out of range; use 16 to 1048576"),
            ),
            Some(m) => container.memory_mb = m,
            None => {}
        }
        match raw.cpus {
            Some(x) if !(x.is_finite() && x > 0.0 && x <= 256.0) => c.push(
                at("cpus"),
                format!("{x} is not a CPU count between 0 and 256"),
            ),
            Some(x) => container.cpus = x,
            None => {}
        }
        match raw.pids {
            Some(p) if !(8..=65_536).contains(&p) => {
                c.push(at("pids"), format!("{p} is out of range; use 8 to 65536"))
            }
            Some(p) => container.pids = p,
            None => {}
        }
        if let Some(u) = &raw.user {
            container.user = c.resolve(at("user"), u);
        }
        for (key, set) in [
            ("cwd", raw.cwd.is_some()),
            ("headers", !raw.headers.is_empty()),
        ] {
            if set {
                c.push(
                    at(key),
                    format!("`{key}` does not apply to `image` servers"),
                );
            }
        }
        Some(Transport::Docker {
            image,
            args,
            env,
            mounts,
            container,
            port: raw.port,
            path,
            fallback,
        })
    } else {
        c.push(
            format!("servers.{name}"),
            "says neither how to run nor where to reach the server; add `command = \"...\"` \
             (a local stdio server), `image = \"...\"` (a container) or `url = \"http://...\"` \
             (a remote one)"
                .into(),
        );
        None
    };
    if raw.path.is_some() && raw.port.is_none() {
        c.push(
            at("path"),
            "`path` only applies to servers with a `port`".into(),
        );
    }
    if raw.per_client == Some(true) && raw.url.is_some() {
        c.push(
            at("per_client"),
            "a remote `url` server is one instance polyclaw does not run; `per_client` applies to `command` and `image` servers".into(),
        );
    }
    let warm = match raw.warm {
        Some(n) if n > 8 => {
            c.push(
                at("warm"),
                format!("{n} is too many; keep at most 8 containers warm"),
            );
            0
        }
        Some(n) => n,
        None => 0,
    };
    if raw.image.is_none() {
        for (key, set) in [
            ("mounts", !raw.mounts.is_empty()),
            ("network", raw.network.is_some()),
            ("read_only", raw.read_only.is_some()),
            ("memory_mb", raw.memory_mb.is_some()),
            ("cpus", raw.cpus.is_some()),
            ("pids", raw.pids.is_some()),
            ("user", raw.user.is_some()),
            ("port", raw.port.is_some()),
            ("fallback", raw.fallback.is_some()),
            ("warm", raw.warm.is_some()),
        ] {
            if set {
                c.push(
                    at(key),
                    format!("`{key}` only applies to `image` (container) servers"),
                );
            }
        }
    }
    let secrets_as = match raw.secrets_as.as_deref() {
        None | Some("env") => SecretsAs::Env,
        Some("file") if raw.image.is_some() => SecretsAs::File,
        Some("file") => {
            c.push(
                at("secrets_as"),
                "`file` only applies to `image` servers; processes get secrets as env".into(),
            );
            SecretsAs::Env
        }
        Some(other) => {
            c.push(
                at("secrets_as"),
                format!("`{other}` is not a way to pass secrets; use `env` or `file`"),
            );
            SecretsAs::Env
        }
    };
    let mut secrets = Vec::new();
    for (i, secret) in raw.secrets.iter().enumerate() {
        if secret.is_empty()
            || !secret
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            c.push(
                at(&format!("secrets[{i}]")),
                format!("`{secret}` is not a secret name; use letters, digits and `_`"),
            );
            continue;
        }
        match c.vars.secret(secret) {
            Some(value) => secrets.push((secret.clone(), value)),
            None => c.push(
                at(&format!("secrets[{i}]")),
                format!("secret {secret} is not set; export {secret}=... or add it to the file named by `secrets_file`"),
            ),
        }
    }
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
    let idle_timeout = match raw.idle_timeout {
        None => None,
        Some(t) if t.is_finite() && (1.0..=604_800.0).contains(&t) => {
            Some(Duration::from_secs_f64(t))
        }
        Some(t) => {
            c.push(
                at("idle_timeout"),
                format!("{t} is not a number of seconds between 1 and 604800"),
            );
            None
        }
    };
    let health_interval = match raw.health_interval {
        None => Duration::from_secs(15),
        Some(t) if t.is_finite() && (0.2..=3600.0).contains(&t) => Duration::from_secs_f64(t),
        Some(t) => {
            c.push(
                at("health_interval"),
                format!("{t} is not a number of seconds between 0.2 and 3600"),
            );
            Duration::from_secs(15)
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
        secrets: Secrets(secrets),
        secrets_as,
        idle_timeout,
        health_interval,
        per_client: raw.per_client.unwrap_or(false),
        warm,
    })
}

/// Parses `HOST:CONTAINER[:rw|:ro]`.
fn parse_mount(text: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, container, read_only) = match parts.as_slice() {
        [h, c] => (*h, *c, true),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        _ => {
            return Err(format!(
                "`{text}` is not `HOST:CONTAINER` or `HOST:CONTAINER:rw`"
            ));
        }
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(format!("`{text}`: both paths must be absolute"));
    }
    Ok(Mount {
        host: PathBuf::from(host),
        container: container.to_string(),
        read_only,
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

    /// Resolves every element of a list value (`key[i]`).
    fn resolve_list(
        &mut self,
        at: &dyn Fn(&str) -> String,
        key: &str,
        values: &[String],
    ) -> Vec<String> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.resolve(at(&format!("{key}[{i}]")), v))
            .collect()
    }

    /// Resolves every value of a table value (`key.NAME`).
    fn resolve_map(
        &mut self,
        at: &dyn Fn(&str) -> String,
        key: &str,
        values: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        values
            .iter()
            .map(|(k, v)| (k.clone(), self.resolve(at(&format!("{key}.{k}")), v)))
            .collect()
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
