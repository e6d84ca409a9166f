//! What to run in a container and how tightly: [`ContainerSpec`] and [`Hardening`], whose
//! `Default` is the hardened profile (no network, read-only root, small `/tmp`, no
//! capabilities, no privilege gain, non-root, 512 MiB, 1 CPU, 128 pids).
//!
//! Secrets are never shown: `Debug` prints env keys and secret names only.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// Where secret files appear inside the container.
pub const SECRETS_DIR: &str = "/run/secrets";

/// One stdio MCP server in a container.
#[derive(Clone, Default)]
pub struct ContainerSpec {
    /// Image reference (`name:tag` or an id); it must already exist on the engine.
    pub image: String,
    /// Overrides the image's `CMD` (arguments to its entrypoint) when not empty.
    pub command: Vec<String>,
    /// Environment variables (values may be secrets: never logged).
    pub env: Vec<(String, String)>,
    /// `(NAME, value)`: each becomes the file `/run/secrets/NAME` (mode 0400, owned by the
    /// container user when it is numeric), written before the server starts.
    pub secret_files: Vec<(String, String)>,
    /// Bind mounts from the host.
    pub mounts: Vec<Mount>,
    /// Isolation and limits.
    pub hardening: Hardening,
}

/// A bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Host path (as the Docker daemon sees it).
    pub host: PathBuf,
    /// Absolute path inside the container.
    pub container: String,
    /// Read-only unless the configuration says otherwise.
    pub read_only: bool,
}

/// The container's network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// No network at all (loopback only).
    #[default]
    None,
    /// Docker's default bridge (outbound access).
    Bridge,
    /// A named Docker network (e.g. a private one polyclaw created).
    Named(String),
}

impl Network {
    /// The `HostConfig.NetworkMode` value.
    pub fn mode(&self) -> &str {
        match self {
            Network::None => "none",
            Network::Bridge => "bridge",
            Network::Named(name) => name,
        }
    }
}

/// Isolation and resource limits; `Default` is the hardened profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardening {
    /// Network mode; default none.
    pub network: Network,
    /// Read-only root filesystem; default true.
    pub read_only_root: bool,
    /// Size of a tmpfs at `/tmp` in MiB; 0 = none. Default 64.
    pub tmpfs_tmp_mb: u32,
    /// Drop every capability; default true.
    pub cap_drop_all: bool,
    /// `no-new-privileges` (setuid binaries cannot gain privileges); default true.
    pub no_new_privileges: bool,
    /// `USER` override; default `65534:65534` (nobody). `None` keeps the image's user.
    pub user: Option<String>,
    /// Memory limit in MiB (swap included, so no swap); 0 = unlimited. Default 512.
    pub memory_mb: u64,
    /// CPU limit; 0 = unlimited. Default 1.0.
    pub cpus: f64,
    /// Process/thread limit; 0 = unlimited. Default 128.
    pub pids: i64,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            network: Network::None,
            read_only_root: true,
            tmpfs_tmp_mb: 64,
            cap_drop_all: true,
            no_new_privileges: true,
            user: Some("65534:65534".to_string()),
            memory_mb: 512,
            cpus: 1.0,
            pids: 128,
        }
    }
}

impl ContainerSpec {
    /// A hardened spec for `image` with nothing else set.
    pub fn new(image: impl Into<String>) -> Self {
        ContainerSpec {
            image: image.into(),
            ..ContainerSpec::default()
        }
    }

    /// Checks what Docker would otherwise reject late or interpret dangerously.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field (for `servers.NAME`) and the fix.
    pub fn validate(&self, server: &str) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidInput(format!("servers.{server}: {what}")));
        if self.image.trim().is_empty() {
            return bad("`image` is empty; name an image that exists locally".into());
        }
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return bad(format!(
                    "env name `{key}` is not valid; use letters, digits and _"
                ));
            }
        }
        for (name, _) in &self.secret_files {
            let ok = !name.is_empty()
                && name != "."
                && name != ".."
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !ok {
                return bad(format!(
                    "secret name `{name}` cannot be a file name under {SECRETS_DIR}; use [A-Za-z0-9_.-]"
                ));
            }
        }
        for m in &self.mounts {
            if !m.container.starts_with('/') || m.container.contains(':') {
                return bad(format!(
                    "mount target `{}` must be an absolute path without `:`",
                    m.container
                ));
            }
            if !m.host.is_absolute() {
                return bad(format!(
                    "mount source `{}` must be an absolute host path",
                    m.host.display()
                ));
            }
        }
        let h = &self.hardening;
        if !(h.cpus.is_finite() && h.cpus >= 0.0) {
            return bad(format!("cpus = {} is not a non-negative number", h.cpus));
        }
        if h.pids < 0 {
            return bad(format!("pids = {} must be 0 (unlimited) or more", h.pids));
        }
        if let Network::Named(n) = &h.network
            && n.trim().is_empty()
        {
            return bad("network name is empty".into());
        }
        Ok(())
    }

    /// The numeric `uid:gid` of the configured user, if it is numeric (`"65534:65534"`,
    /// `"1000"`).
    pub fn numeric_user(&self) -> Option<(u64, u64)> {
        let user = self.hardening.user.as_deref()?;
        let (u, g) = user.split_once(':').unwrap_or((user, user));
        Some((u.parse().ok()?, g.parse().ok()?))
    }
}

impl fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("image", &self.image)
            .field("command", &self.command)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field(
                "secret_files",
                &self
                    .secret_files
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("mounts", &self.mounts)
            .field("hardening", &self.hardening)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_hardened() {
        let h = Hardening::default();
        assert_eq!(h.network, Network::None);
        assert!(h.read_only_root && h.cap_drop_all && h.no_new_privileges);
        assert_eq!(h.user.as_deref(), Some("65534:65534"));
        assert_eq!((h.memory_mb, h.pids, h.tmpfs_tmp_mb), (512, 128, 64));
    }

    #[test]
    fn debug_hides_values() {
        let mut spec = ContainerSpec::new("img");
        spec.env.push(("TOKEN".into(), "hunter2".into()));
        spec.secret_files.push(("api".into(), "hunter3".into()));
        let text = format!("{spec:?}");
        assert!(text.contains("TOKEN") && text.contains("api"));
        assert!(!text.contains("hunter"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut spec = ContainerSpec::new("img");
        assert!(spec.validate("s").is_ok());
        spec.secret_files.push(("../etc".into(), String::new()));
        let err = spec
            .validate("s")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("servers.s") && err.contains("../etc"), "{err}");
    }

    #[test]
    fn numeric_user() {
        let mut spec = ContainerSpec::new("img");
        assert_eq!(spec.numeric_user(), Some((65534, 65534)));
        spec.hardening.user = Some("1000".into());
        assert_eq!(spec.numeric_user(), Some((1000, 1000)));
        spec.hardening.user = Some("nobody".into());
        assert_eq!(spec.numeric_user(), None);
    }
}
