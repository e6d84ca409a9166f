//! Typed configuration: `polyclaw.toml`, where it is found, and how it becomes a validated
//! list of [`ServerSpec`]s.
//!
//! Loading never panics: every problem in a file is collected with its key path
//! (`servers.git.command`) and returned together in one [`ConfigError::Invalid`], so a user
//! fixes a broken file in one pass. This module resolves `${env:NAME}` references host-side;
//! it never starts anything.

mod file;
mod interpolate;
mod policy;
mod spec;
mod validate;

pub use crate::registry::pins::DriftPolicy;
pub use file::{
    FrontConfig, GenerateConfig, LlmConfig, PlansConfig, RawConfig, RawServer, SecurityConfig,
};
pub use interpolate::Interpolator;
pub use policy::{AuditConfig, RawHints, RawPolicy, RawRule};
pub use spec::{
    ContainerSettings, Expose, Fallback, Mount, PRIVATE_NETWORK, Secrets, SecretsAs, ServerSpec,
    StartPolicy, Transport, validate_server_name,
};
pub use validate::validate as validate_raw;

use std::path::{Path, PathBuf};

use crate::error::{ConfigIssue, Error};

/// The configuration used when no `--config` is given and no `./polyclaw.toml` exists.
/// It must work on a fresh machine after `cargo build --release`.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// The name of the file looked up in the working directory.
pub const DEFAULT_FILE_NAME: &str = "polyclaw.toml";

/// Where a configuration came from: shown by `polyclaw doctor` and in every config error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file given with `--config` or found as `./polyclaw.toml`.
    File(PathBuf),
    /// The configuration compiled into the binary.
    Embedded,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Embedded => f.write_str("the embedded default configuration"),
        }
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub source: ConfigSource,
    /// Every server, validated and with `${env:..}` resolved, in name order.
    pub servers: Vec<ServerSpec>,
    /// Settings of the front door.
    pub front: FrontConfig,
    /// The plan-writing model endpoint, if any (`${env:..}` resolved in `base_url`).
    pub llm: Option<LlmConfig>,
    /// Planning settings.
    pub plans: PlansConfig,
    /// Security settings.
    pub security: SecurityConfig,
    /// Server generation settings.
    pub generate: GenerateConfig,
    /// Guardrails, compiled.
    pub policy: crate::registry::policy::Policy,
    /// The audit trail's settings.
    pub audit: AuditConfig,
}

impl Config {
    /// Replaces the secret values this configuration knows (servers' `secrets`, `headers`,
    /// and `env` values whose names look like credentials) by `[redacted:NAME]`.
    #[must_use]
    pub fn redactor(&self) -> crate::registry::redact::Redactor {
        use crate::registry::redact::{Redactor, secret_looking};
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for server in &self.servers {
            pairs.extend(
                server
                    .secrets
                    .0
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            );
            let (env, headers) = server.transport.env_and_headers();
            pairs.extend(
                env.iter()
                    .filter(|(n, _)| secret_looking(n))
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            );
            pairs.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        }
        Redactor::new(pairs)
    }

    /// Finds and loads the configuration: `explicit` if given, else `./polyclaw.toml`, else the
    /// embedded default.
    ///
    /// # Errors
    /// [`Error::ConfigRead`] when the file cannot be read, [`Error::ConfigInvalid`] with every
    /// problem found when it cannot be used.
    pub fn discover(explicit: Option<&Path>) -> Result<Self, Error> {
        if let Some(path) = explicit {
            return Self::from_file(path);
        }
        let local = Path::new(DEFAULT_FILE_NAME);
        if local.is_file() {
            return Self::from_file(local);
        }
        Self::parse(
            EMBEDDED_DEFAULT,
            ConfigSource::Embedded,
            &Interpolator::from_env(),
        )
    }

    /// Loads one file.
    ///
    /// # Errors
    /// See [`Config::discover`].
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(
            &text,
            ConfigSource::File(path.to_path_buf()),
            &Interpolator::from_env(),
        )
    }

    /// Parses and validates configuration text.
    ///
    /// # Errors
    /// [`Error::ConfigInvalid`] listing every problem with its key path.
    pub fn parse(text: &str, source: ConfigSource, vars: &Interpolator) -> Result<Self, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::ConfigInvalid {
            source_name: source.to_string(),
            issues: vec![ConfigIssue {
                path: toml_error_path(&e),
                message: e.message().to_string(),
            }],
        })?;
        let mut issues = Vec::new();
        let mut servers = Vec::new();
        let vars = &if vars.has_state_dir() {
            vars.clone()
        } else {
            vars.clone()
                .with_state_dir(raw.plans.state_dir().to_string_lossy().into_owned())
        };
        let vars = &match &raw.secrets_file {
            None => vars.clone(),
            Some(file) => {
                match load_secrets(&vars.resolve(file).unwrap_or_else(|_| file.clone())) {
                    Ok(secrets) => vars.clone().with_secrets(secrets),
                    Err(message) => {
                        issues.push(ConfigIssue {
                            path: "secrets_file".into(),
                            message,
                        });
                        vars.clone()
                    }
                }
            }
        };
        for (name, server) in &raw.servers {
            if let Some(spec) = validate::validate(name, server, vars, &mut issues) {
                servers.push(spec);
            }
        }
        raw.front.validate(&mut issues);
        raw.audit.validate(&mut issues);
        let names: Vec<String> = raw.servers.keys().cloned().collect();
        let policy = policy::compile(&raw.policy, &names, &mut issues);
        let mut llm = raw.llm.clone();
        if let Some(l) = &mut llm {
            match vars.resolve(&l.base_url) {
                Ok(u) if u.starts_with("http://") || u.starts_with("https://") => l.base_url = u,
                Ok(u) => issues.push(ConfigIssue {
                    path: "llm.base_url".into(),
                    message: format!(
                        "`{u}` is not an http(s) URL; write e.g. `http://127.0.0.1:11434/v1`"
                    ),
                }),
                Err(message) => issues.push(ConfigIssue {
                    path: "llm.base_url".into(),
                    message,
                }),
            }
            if l.model.trim().is_empty() {
                issues.push(ConfigIssue {
                    path: "llm.model".into(),
                    message: "is empty; name the model to ask for plans".into(),
                });
            }
        }
        if issues.is_empty() {
            Ok(Self {
                source,
                servers,
                front: raw.front,
                llm,
                plans: raw.plans,
                security: raw.security,
                generate: raw.generate,
                policy,
                audit: raw.audit,
            })
        } else {
            Err(Error::ConfigInvalid {
                source_name: source.to_string(),
                issues,
            })
        }
    }
}

/// Reads a secrets file: TOML with one `NAME = "value"` per secret.
fn load_secrets(path: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let path = match path.strip_prefix("~/") {
        Some(rest) => {
            std::env::var("HOME").map_or_else(|_| path.to_string(), |h| format!("{h}/{rest}"))
        }
        None => path.to_string(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("cannot read the secrets file {path} ({e}); fix the path or remove `secrets_file`")
    })?;
    toml::from_str::<std::collections::BTreeMap<String, String>>(&text).map_err(|e| {
        format!(
            "{path} is not a TOML table of NAME = \"value\" lines: {}",
            e.message()
        )
    })
}

/// A TOML syntax or type error's location, as a line number when toml gives a span.
fn toml_error_path(error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => format!("byte {}", span.start),
        None => "(file)".to_string(),
    }
}

#[cfg(test)]
mod tests;

impl PlansConfig {
    /// polyclaw's state folder (run records, generated servers, tool pins): `[plans]
    /// state_dir`, else `$XDG_STATE_HOME/polyclaw`, else `~/.local/state/polyclaw`, else
    /// `.polyclaw-state` in the working folder.
    #[must_use]
    pub fn state_dir(&self) -> std::path::PathBuf {
        use std::path::PathBuf;
        if let Some(dir) = &self.state_dir {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("polyclaw");
        }
        if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(home).join(".local/state/polyclaw");
        }
        PathBuf::from(".polyclaw-state")
    }

    /// Where the tool pins of drift detection are kept.
    #[must_use]
    pub fn pins_path(&self) -> std::path::PathBuf {
        self.state_dir().join("tool-pins.json")
    }
}
