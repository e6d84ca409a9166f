//! Local child processes: spawned in their own process group with piped stdio, stderr turned
//! into log lines, and stopped politely then firmly (close stdin → wait → SIGTERM the group →
//! wait → SIGKILL the group → reap). Nothing here relies on `Drop` at runtime shutdown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::Error;

/// How long a child gets after stdin closes, and again after SIGTERM.
pub const GRACE: Duration = Duration::from_millis(1500);

/// A running child process and its protocol pipes.
pub struct ChildProcess {
    /// The child; reaped in [`ChildProcess::stop`].
    child: Child,
    /// Process group id (= the child's pid).
    pgid: Option<i32>,
}

/// Spawns `command` for server `server` and returns it with its stdout (server → us) and
/// stdin (us → server).
///
/// # Errors
/// [`Error::Unavailable`] naming the program and the fix when it cannot be started.
pub fn spawn(
    server: &str,
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: Option<&PathBuf>,
) -> Result<(ChildProcess, ChildStdout, ChildStdin), Error> {
    let mut cmd = Command::new(command);
    cmd.args(args)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| Error::Unavailable {
        server: server.to_string(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "cannot start `{command}`: program not found; install it or fix `servers.{server}.command`"
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("cannot start `{command}`: permission denied; make it executable")
            }
            _ => format!("cannot start `{command}`: {e}"),
        },
    })?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(Error::Unavailable {
            server: server.to_string(),
            reason: "its stdio pipes could not be opened".into(),
        });
    };
    if let Some(stderr) = child.stderr.take() {
        let server = server.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line: String = line.chars().take(4096).collect();
                tracing::info!(target: "polyclaw::server", server = %server, "{line}");
            }
        });
    }
    Ok((ChildProcess { child, pgid }, stdout, stdin))
}

impl ChildProcess {
    /// The child's pid, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the child (its stdin should already be closed): waits [`GRACE`], then SIGTERM to
    /// its process group, waits again, then SIGKILL; always reaps. Returns how it ended.
    pub async fn stop(mut self) -> String {
        if let Ok(Ok(status)) = tokio::time::timeout(GRACE, self.child.wait()).await {
            self.kill_group(Signal::SIGKILL);
            return status.to_string();
        }
        self.kill_group(Signal::SIGTERM);
        if let Ok(Ok(status)) = tokio::time::timeout(GRACE, self.child.wait()).await {
            self.kill_group(Signal::SIGKILL);
            return format!("{status} after SIGTERM");
        }
        self.kill_group(Signal::SIGKILL);
        let _ = self.child.start_kill();
        match self.child.wait().await {
            Ok(status) => format!("{status} after SIGKILL"),
            Err(e) => format!("could not be reaped: {e}"),
        }
    }

    /// Waits for the child to exit by itself (after its stdout closed), reaping it; kills the
    /// group if it lingers.
    pub async fn reap(self) -> String {
        self.stop().await
    }

    fn kill_group(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is the normal case here.
            let _ = killpg(Pid::from_raw(pgid), signal);
        }
    }
}

/// Runs a short host check (e.g. a generated server's manifest `--check`) to completion:
/// stdin closed, output captured, killed when `timeout` passes. Returns whether it exited 0
/// and its stdout and stderr, joined.
///
/// # Errors
/// [`crate::Error::Io`] when it cannot be started.
pub async fn run_check(
    program: &std::path::Path,
    args: &[String],
    cwd: &std::path::Path,
    timeout: std::time::Duration,
) -> Result<(bool, String), crate::Error> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|source| crate::Error::Io {
        context: format!("cannot run {}", program.display()),
        source,
    })?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Ok((out.status.success(), text))
        }
        Ok(Err(source)) => Err(crate::Error::Io {
            context: format!("waiting for {} failed", program.display()),
            source,
        }),
        Err(_) => Ok((
            false,
            format!(
                "{} did not finish within {} s",
                program.display(),
                timeout.as_secs()
            ),
        )),
    }
}
