//! What `run_stdio` sends to the engine: the container body (labels, stdio flags, the
//! hardening as `HostConfig`, bind mounts, the secrets volume), its name, the tar of secret
//! files, and what a refused create means for the user.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount as DockerMount, MountType,
    MountVolumeOptions,
};

use super::labels;
use super::spec::{ContainerSpec, Network, SECRETS_DIR};
use crate::error::Error;

pub(super) fn container_name(server: &str, instance: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let clean: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let short: String = instance.chars().take(8).collect();
    format!("polyclaw-{clean}-{short}-{n}")
}

pub(super) fn create_body(
    server: &str,
    instance: &str,
    spec: &ContainerSpec,
) -> ContainerCreateBody {
    let h = &spec.hardening;
    let mut mounts: Vec<DockerMount> = spec
        .mounts
        .iter()
        .map(|m| DockerMount {
            typ: Some(MountType::BIND),
            source: Some(m.host.to_string_lossy().into_owned()),
            target: Some(m.container.clone()),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    if !spec.secret_files.is_empty() {
        // An anonymous volume, removed with the container: Docker 20.10 cannot upload into a
        // tmpfs, nor into a read-only root; a volume can take files before the start.
        mounts.push(DockerMount {
            typ: Some(MountType::VOLUME),
            target: Some(SECRETS_DIR.to_string()),
            read_only: Some(false),
            volume_options: Some(MountVolumeOptions {
                no_copy: Some(true),
                labels: Some(labels::container_labels(instance, server)),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let mut tmpfs = HashMap::new();
    if h.tmpfs_tmp_mb > 0 {
        tmpfs.insert(
            "/tmp".to_string(),
            format!("rw,nosuid,nodev,size={}m,mode=1777", h.tmpfs_tmp_mb),
        );
    }
    let memory = (h.memory_mb > 0).then(|| i64::try_from(h.memory_mb << 20).unwrap_or(i64::MAX));
    #[allow(clippy::cast_possible_truncation)]
    let nano_cpus = (h.cpus > 0.0).then(|| (h.cpus * 1e9).round() as i64);
    let host_config = HostConfig {
        network_mode: Some(h.network.mode().to_string()),
        // A container with a network reaches services on the host by this name, as with
        // Docker Desktop (a Streamable HTTP server, an API a generated server calls).
        extra_hosts: (h.network != Network::None)
            .then(|| vec!["host.docker.internal:host-gateway".to_string()]),
        readonly_rootfs: Some(h.read_only_root),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        cap_drop: h.cap_drop_all.then(|| vec!["ALL".to_string()]),
        security_opt: h
            .no_new_privileges
            .then(|| vec!["no-new-privileges".to_string()]),
        memory,
        memory_swap: memory,
        nano_cpus,
        pids_limit: (h.pids > 0).then_some(h.pids),
        mounts: (!mounts.is_empty()).then_some(mounts),
        // stdout is the MCP stream and may carry secrets: keep it off the engine's disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some("none".to_string()),
            config: None,
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: h.user.clone(),
        labels: Some(labels::container_labels(instance, server)),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    }
}

pub(super) fn create_error(server: &str, spec: &ContainerSpec, e: bollard::errors::Error) -> Error {
    let image = &spec.image;
    let reason = match &e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } if message.contains("No such image") => format!(
            "image `{image}` is not on this Docker engine, and nothing is pulled; build it: \
             `polyclaw images build` for polyclaw's own servers, otherwise `docker build -t {image} DIR` \
             or `docker load -i IMAGE.tar`"
        ),
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => format!(
            "Docker refused the container: {message}; check `servers.{server}` (network name?)"
        ),
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => format!("Docker refused the container: {message}"),
        _ => format!(
            "cannot create its container: {}; is the Docker daemon running?",
            super::error_chain(&e)
        ),
    };
    Error::Unavailable {
        server: server.to_string(),
        reason,
    }
}

/// A tar of the secret files: mode 0400 owned by the container's numeric user, or 0444 owned
/// by root when the user is a name (its uid is unknown here).
pub(super) fn secrets_tar(spec: &ContainerSpec) -> std::io::Result<Vec<u8>> {
    let (uid, gid, mode) = match spec.numeric_user() {
        Some((uid, gid)) => (uid, gid, 0o400),
        None => (0, 0, 0o444),
    };
    let mut builder = tar::Builder::new(Vec::new());
    for (name, value) in &spec.secret_files {
        let mut header = tar::Header::new_gnu();
        header.set_size(value.len() as u64);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, value.as_bytes())?;
    }
    builder.into_inner()
}
