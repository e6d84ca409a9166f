//! One stdio MCP server in a hardened container: [`run_stdio`] creates it (stdin open, not a
//! TTY, labelled, limited), writes secret files, attaches **before** starting (so no early
//! output is lost), starts it, and hands back its stdout and stdin as byte streams.
//! [`RunningContainer::stop`] ends it within a few seconds and removes it.

use std::time::Duration;

use bollard::models::ContainerState;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, StopContainerOptions, UploadToContainerOptions,
    WaitContainerOptions,
};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::create::{container_name, create_body, create_error, secrets_tar};
use super::spec::{ContainerSpec, SECRETS_DIR};
use super::{Engine, attach, engine_error, is_status};
use crate::error::Error;

pub use super::attach::{ContainerStdin, ContainerStdout};

/// How long [`RunningContainer::stop`] waits for an exit after stdin closed.
pub const STDIN_GRACE: Duration = Duration::from_millis(500);
/// Seconds between SIGTERM and SIGKILL in [`RunningContainer::stop`].
pub const STOP_SECS: i32 = 2;
/// Upper bound for each engine call made while stopping.
const CALL_BOUND: Duration = Duration::from_secs(5);

/// A container started by [`run_stdio`]; stop it with [`RunningContainer::stop`].
#[derive(Debug)]
pub struct RunningContainer {
    /// Container id.
    pub id: String,
    /// Container name (`polyclaw-SERVER-INSTANCE-N`).
    pub name: String,
    /// The server it runs.
    pub server: String,
    pump: JoinHandle<()>,
}

/// Creates, attaches to and starts a container for stdio server `server` owned by polyclaw
/// instance `instance` (see [`labels::instance_id`]). Returns the container, its stdout (to
/// read) and its stdin (to write); hand the pair to rmcp, e.g.
/// `rmcp::serve_client(handler, (stdout, stdin))`.
///
/// # Errors
/// [`Error::InvalidInput`] for a spec Docker would reject; [`Error::Unavailable`] when the
/// image is missing (with how to build it) or the engine refuses; no container is left behind.
pub async fn run_stdio(
    engine: &Engine,
    server: &str,
    instance: &str,
    spec: &ContainerSpec,
) -> Result<(RunningContainer, ContainerStdout, ContainerStdin), Error> {
    spec.validate(server)?;
    let began = std::time::Instant::now();
    let name = container_name(server, instance);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let created = engine
        .docker()
        .create_container(Some(options), create_body(server, instance, spec))
        .await
        .map_err(|e| create_error(server, spec, e))?;
    for warning in &created.warnings {
        tracing::warn!(server = %server, "docker: {warning}");
    }
    let id = created.id;
    let create_ms = began.elapsed().as_millis();
    match attach_and_start(engine, server, &id, spec).await {
        Ok((pump, stdout, stdin)) => {
            tracing::debug!(
                server = %server,
                container = %name,
                create_ms,
                total_ms = began.elapsed().as_millis(),
                "container started"
            );
            let running = RunningContainer {
                id,
                name,
                server: server.to_string(),
                pump,
            };
            Ok((running, stdout, stdin))
        }
        Err(e) => {
            engine.remove_container(&id).await;
            Err(e)
        }
    }
}

async fn attach_and_start(
    engine: &Engine,
    server: &str,
    id: &str,
    spec: &ContainerSpec,
) -> Result<(JoinHandle<()>, ContainerStdout, ContainerStdin), Error> {
    let docker = engine.docker();
    let unavailable = |doing: &str, e: bollard::errors::Error| Error::Unavailable {
        server: server.to_string(),
        reason: format!("cannot {doing} its container: {}", super::error_chain(&e)),
    };
    if !spec.secret_files.is_empty() {
        let tar = secrets_tar(spec).map_err(|source| Error::Io {
            context: format!("cannot pack the secret files of server `{server}`"),
            source,
        })?;
        let options = UploadToContainerOptions {
            path: SECRETS_DIR.to_string(),
            ..Default::default()
        };
        docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| unavailable("write the secret files into", e))?;
    }
    let options = AttachContainerOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
        detach_keys: None,
    };
    let attached = docker
        .attach_container(id, Some(options))
        .await
        .map_err(|e| unavailable("attach to", e))?;
    let (stdout, pipe_in) = tokio::io::duplex(attach::STDOUT_PIPE_BYTES);
    let pump = tokio::spawn(attach::pump(attached.output, pipe_in, server.to_string()));
    let began = std::time::Instant::now();
    let started = docker.start_container(id, None).await;
    tracing::debug!(server = %server, start_ms = began.elapsed().as_millis(), "container start call returned");
    if let Err(e) = started {
        pump.abort();
        return Err(unavailable("start", e));
    }
    Ok((pump, stdout, ContainerStdin::new(attached.input)))
}

impl RunningContainer {
    /// Stops and removes the container; its stdin should be closed already. Waits up to
    /// [`STDIN_GRACE`] for it to exit by itself, then stops it (SIGTERM, SIGKILL after
    /// [`STOP_SECS`]), then force-removes it with its secrets volume. Bounded (about 10 s at
    /// worst, usually well under 1 s for a server that exits on EOF), never panics. Returns
    /// how it ended, for logs.
    pub async fn stop(self, engine: &Engine) -> String {
        let docker = engine.docker();
        let ended = match tokio::time::timeout(STDIN_GRACE, self.wait_exit(engine)).await {
            Ok(how) => how,
            Err(_) => {
                let options = StopContainerOptions {
                    t: Some(STOP_SECS),
                    signal: None,
                };
                let bound = CALL_BOUND + Duration::from_secs(STOP_SECS.unsigned_abs().into());
                match tokio::time::timeout(bound, docker.stop_container(&self.id, Some(options)))
                    .await
                {
                    Ok(Ok(())) => format!("{} after stop", self.exit_text(engine).await),
                    Ok(Err(e)) if is_status(&e, 304) || is_status(&e, 404) => {
                        self.exit_text(engine).await
                    }
                    Ok(Err(e)) => format!("stop failed ({e}); removed by force"),
                    Err(_) => "did not stop in time; removed by force".to_string(),
                }
            }
        };
        if tokio::time::timeout(CALL_BOUND, engine.remove_container(&self.id))
            .await
            .is_err()
        {
            tracing::warn!(server = %self.server, container = %self.name, "removing the container timed out");
        }
        // The attach stream ends with the container; give the pump a moment to log the
        // last stderr lines, then make sure it is gone.
        let mut pump = self.pump;
        if tokio::time::timeout(Duration::from_millis(500), &mut pump)
            .await
            .is_err()
        {
            pump.abort();
        }
        ended
    }

    /// Waits until the container is not running and says how it ended (exit code, and
    /// whether it was killed for memory), for logs. Unbounded: wrap it in a timeout.
    pub async fn wait_exit(&self, engine: &Engine) -> String {
        let options = WaitContainerOptions {
            condition: "not-running".to_string(),
        };
        let mut waits = engine.docker().wait_container(&self.id, Some(options));
        match waits.next().await {
            Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => {
                self.exit_text(engine).await
            }
            Some(Err(e)) if is_status(&e, 404) => "gone".to_string(),
            Some(Err(e)) => format!("unknown ({e})"),
            None => "unknown".to_string(),
        }
    }

    /// The container's state (running, exit code, OOMKilled, health) as Docker reports it.
    ///
    /// # Errors
    /// [`Error::Io`] when the engine cannot answer (404 when the container is gone).
    pub async fn inspect_state(&self, engine: &Engine) -> Result<ContainerState, Error> {
        let info = engine
            .docker()
            .inspect_container(&self.id, None)
            .await
            .map_err(|e| engine_error(format!("inspect container {}", self.name), e))?;
        Ok(info.state.unwrap_or_default())
    }

    async fn exit_text(&self, engine: &Engine) -> String {
        match self.inspect_state(engine).await {
            Ok(state) => describe_state(&state),
            Err(_) => "gone".to_string(),
        }
    }
}

/// `exited with code 137 (killed: out of memory)`, `running`, …
pub fn describe_state(state: &ContainerState) -> String {
    if state.running == Some(true) {
        return "running".to_string();
    }
    let mut text = format!("exited with code {}", state.exit_code.unwrap_or(-1));
    if state.oom_killed == Some(true) {
        text.push_str(" (killed: out of memory)");
    }
    if let Some(error) = state.error.as_deref().filter(|e| !e.is_empty()) {
        text.push_str(&format!(" ({error})"));
    }
    text
}
