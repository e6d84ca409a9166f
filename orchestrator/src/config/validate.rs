//! Validating one `[servers.NAME]` table into a [`ServerSpec`]: the checks every server
//! shares (name, prefix, start, timeouts, secrets) in [`validate`], and one function per
//! transport (`process`, `remote`, `container`). Every problem is collected with its key path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigIssue;

use super::file::RawServer;
use super::interpolate::Interpolator;
use super::spec::{
    ContainerSettings, Fallback, Mount, PRIVATE_NETWORK, Secrets, SecretsAs, ServerSpec,
    StartPolicy, Transport, validate_server_name,
};

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
        Some(process(&mut c, &at, command, raw))
    } else if let Some(url) = &raw.url {
        Some(remote(&mut c, &at, url, raw))
    } else if let Some(image) = &raw.image {
        Some(container(&mut c, &at, name, image, raw))
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

/// The `command` transport: a local process on stdio.
fn process(
    c: &mut Check<'_>,
    at: &dyn Fn(&str) -> String,
    command: &str,
    raw: &RawServer,
) -> Transport {
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
    Transport::Process {
        command,
        args,
        env,
        cwd,
    }
}

/// The `url` transport: a remote Streamable HTTP server.
fn remote(c: &mut Check<'_>, at: &dyn Fn(&str) -> String, url: &str, raw: &RawServer) -> Transport {
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
    Transport::Http { url, headers }
}

/// The `image` transport: a container (stdio, or HTTP on a `port`), with its hardening.
fn container(
    c: &mut Check<'_>,
    at: &dyn Fn(&str) -> String,
    name: &str,
    image: &str,
    raw: &RawServer,
) -> Transport {
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
    Transport::Docker {
        image,
        args,
        env,
        mounts,
        container,
        port: raw.port,
        path,
        fallback,
    }
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
