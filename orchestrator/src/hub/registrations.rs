//! Registrations of generated servers: `<state dir>/generated/NAME.toml` (template, spec
//! hash, time, image and the server table, as in `polyclaw.toml`) beside `NAME.spec.json` (the
//! spec it was made from). Written last in the pipeline, through a temporary file and a
//! rename, so a half-made server is never registered. The mesh loads them at start and
//! [`watch`]es the folder, so a CLI `polyclaw generate` or `servers remove` reaches a running
//! `serve` within seconds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Hub;
use crate::config::{Interpolator, RawServer, ServerSpec};
use crate::error::{ConfigIssue, Error};

/// The repository prefix of every generated image.
pub const IMAGE_PREFIX: &str = "polyclaw-gen/";

/// How often a running mesh looks for registrations added or removed by another process.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// One generated server, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The template it was made from.
    pub template: String,
    /// SHA-256 of its spec (canonical JSON).
    pub spec_sha256: String,
    /// When it was made (Unix seconds).
    pub created: u64,
    /// Its image.
    pub image: String,
    /// Its server table, as it would be written in `polyclaw.toml`.
    pub server: RawServer,
}

/// The folder of registrations.
#[must_use]
pub fn dir(state: &Path) -> PathBuf {
    state.join("generated")
}

fn file(state: &Path, name: &str) -> PathBuf {
    dir(state).join(format!("{name}.toml"))
}

fn spec_file(state: &Path, name: &str) -> PathBuf {
    dir(state).join(format!("{name}.spec.json"))
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Saves a registration and its spec; returns the registration's path.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn save(state: &Path, name: &str, reg: &Registration, spec: &Value) -> Result<PathBuf, Error> {
    let folder = dir(state);
    std::fs::create_dir_all(&folder).map_err(io(format!(
        "cannot create {}; set `plans.state_dir` to a writable folder",
        folder.display()
    )))?;
    let text = toml::to_string_pretty(reg).map_err(|e| Error::Io {
        context: format!("cannot write the registration of `{name}`"),
        source: std::io::Error::other(e),
    })?;
    let spec_text = serde_json::to_string_pretty(spec).unwrap_or_default();
    let spec_path = spec_file(state, name);
    write_atomic(&spec_path, &spec_text)?;
    let path = file(state, name);
    write_atomic(&path, &text)?;
    Ok(path)
}

fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("cannot write {}", path.display())))
}

/// One registration, if there is one.
///
/// # Errors
/// [`Error::Io`] when the file exists but cannot be read or parsed.
pub fn load(state: &Path, name: &str) -> Result<Option<Registration>, Error> {
    let path = file(state, name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("cannot read {}", path.display()))(e)),
    };
    toml::from_str(&text).map(Some).map_err(|e| Error::Io {
        context: format!(
            "{} is not a registration ({}); remove it with `polyclaw servers remove {name}`",
            path.display(),
            e.message()
        ),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Removes a registration and its spec; `true` if there was one.
///
/// # Errors
/// [`Error::Io`] when it exists but cannot be removed.
pub fn remove(state: &Path, name: &str) -> Result<bool, Error> {
    let path = file(state, name);
    let existed = match std::fs::remove_file(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(format!("cannot remove {}", path.display()))(e)),
    };
    let _ = std::fs::remove_file(spec_file(state, name));
    Ok(existed)
}

/// Names of every registration, sorted.
#[must_use]
pub fn names(state: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir(state))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    name.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The server spec of a registration.
///
/// # Errors
/// The issues of its server table (as config issues would be reported).
pub fn server_spec(name: &str, reg: &Registration) -> Result<ServerSpec, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    match crate::config::validate_raw(name, &reg.server, &Interpolator::from_env(), &mut issues) {
        Some(spec) => Ok(spec),
        None => Err(issues),
    }
}

/// Every registration that loads, as server specs; the others are logged and skipped.
#[must_use]
pub fn load_specs(state: &Path) -> Vec<ServerSpec> {
    names(state)
        .into_iter()
        .filter_map(|name| match load(state, &name) {
            Ok(Some(reg)) => match server_spec(&name, &reg) {
                Ok(spec) => Some(spec),
                Err(issues) => {
                    let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    tracing::warn!(server = %name, "skipping a generated server: {}", list.join("; "));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(server = %name, "skipping a generated server: {e}");
                None
            }
        })
        .collect()
}

/// Whether a server runs a generated image (see `pipeline::image_tag`).
fn is_generated(spec: &ServerSpec) -> bool {
    matches!(&spec.transport, crate::config::Transport::Docker { image, .. } if image.starts_with(IMAGE_PREFIX))
}

/// Keeps a running mesh in step with the registrations: new ones are added, removed ones
/// are removed (only servers that were registrations: config servers are never touched).
/// Ends when the mesh is gone or `stop` is cancelled.
pub async fn watch(
    hub: Weak<Hub>,
    state: PathBuf,
    mut known: BTreeSet<String>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(hub) = hub.upgrade() else { return };
        let now = names(&state);
        for name in now.difference(&known) {
            if hub.server(name).is_some() {
                continue; // added in this process (polyclaw__create_server)
            }
            let reg = match load(&state, name) {
                Ok(Some(reg)) => reg,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(server = %name, "cannot load a new generated server: {e}");
                    continue;
                }
            };
            match server_spec(name, &reg) {
                Ok(spec) => {
                    tracing::info!(server = %name, "adding a server generated by another process");
                    let hub = Arc::clone(&hub);
                    tokio::spawn(async move {
                        if let Err(e) = hub.add_server(spec).await {
                            tracing::warn!("a generated server did not start: {e}");
                        }
                    });
                }
                Err(issues) => {
                    let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    tracing::warn!(server = %name, "cannot add a generated server: {}", list.join("; "));
                }
            }
        }
        // Gone since the last look, and also generated servers this process added and whose
        // registration was removed before this look (created and removed within one tick).
        let mut gone: BTreeSet<String> = known.difference(&now).cloned().collect();
        gone.extend(
            hub.servers()
                .iter()
                .filter(|ds| is_generated(&ds.spec) && !now.contains(&ds.spec.name))
                .map(|ds| ds.spec.name.clone()),
        );
        for name in &gone {
            if hub.server(name).is_some() && !hub.config_servers.contains(name) {
                tracing::info!(server = %name, "its registration was removed; removing the server");
                let _ = hub.remove_server(name).await;
            }
        }
        known = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registration {
            template: "command".into(),
            spec_sha256: "ab".repeat(32),
            created: 1,
            image: "polyclaw-gen/num:abc".into(),
            server: RawServer {
                image: Some("polyclaw-gen/num:abc".into()),
                description: Some("numbers".into()),
                ..RawServer::default()
            },
        };
        save(dir.path(), "num", &reg, &serde_json::json!({"name": "num"})).unwrap();
        assert_eq!(load(dir.path(), "num").unwrap(), Some(reg.clone()));
        assert_eq!(names(dir.path()).into_iter().collect::<Vec<_>>(), ["num"]);
        let specs = load_specs(dir.path());
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].kind(), "docker");
        assert!(remove(dir.path(), "num").unwrap());
        assert!(!remove(dir.path(), "num").unwrap());
        assert!(load(dir.path(), "num").unwrap().is_none());
    }
}
