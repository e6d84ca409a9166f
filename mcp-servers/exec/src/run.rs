//! Running one command: no shell, stdin closed, stdout and stderr captured
//! up to a cap (the rest is read and dropped so the command never blocks),
//! in its own process group. When the time runs out, the call is cancelled
//! or the call is dropped, the whole group is killed (SIGKILL); when the
//! command exits, processes it left behind in its group are killed too.

use std::{
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::manifest::Invocation;

/// How long output is still read after the command exited, for pipes held
/// open by processes that left its group.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Killed by us after the timeout.
    TimedOut,
    /// Killed by us because the call was cancelled.
    Cancelled,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub ending: Ending,
    pub stdout: String,
    pub stderr: String,
    /// Whether stdout or stderr went over the cap.
    pub truncated: bool,
}

/// Limits of one run.
#[derive(Debug, Clone)]
pub struct Limits<'a> {
    pub timeout: Duration,
    pub max_output: usize,
    pub cwd: Option<&'a Path>,
}

/// Kills the process group when dropped (however the run ends).
struct Group(Option<Pid>);

impl Group {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            // ESRCH (already gone) is the normal case.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `invocation`; `Err` only when it could not be started.
pub async fn run(
    invocation: &Invocation,
    limits: &Limits<'_>,
    cancel: &CancellationToken,
) -> Result<Output, String> {
    let (program, args) = invocation
        .argv
        .split_first()
        .ok_or_else(|| "empty command".to_owned())?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = limits.cwd {
        command.current_dir(cwd);
    }
    for (name, value) in &invocation.env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut child = command.spawn().map_err(|err| {
        let cwd = limits
            .cwd
            .map(|cwd| format!(" in {}", cwd.display()))
            .unwrap_or_default();
        format!("cannot run {program}{cwd}: {err}")
    })?;
    let group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let exited = CancellationToken::new();
    let stdout = capture(child.stdout.take(), limits.max_output, &exited);
    let stderr = capture(child.stderr.take(), limits.max_output, &exited);
    let ending = async {
        let ending = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => ending_of(status),
                Err(_) => Ending::Signaled(0),
            },
            () = tokio::time::sleep(limits.timeout) => Ending::TimedOut,
            () = cancel.cancelled() => Ending::Cancelled,
        };
        // Kill what is left of the group: all of it after a timeout or a
        // cancellation, stragglers after a normal exit.
        group.kill();
        if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
            let _ = child.wait().await;
        }
        exited.cancel();
        ending
    };
    let (ending, (stdout, out_cut), (stderr, err_cut)) = tokio::join!(ending, stdout, stderr);
    Ok(Output {
        ending,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated: out_cut || err_cut,
    })
}

fn ending_of(status: ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Signaled(signal),
        (None, None) => Ending::Signaled(0),
    }
}

/// Reads `stream` to its end keeping the first `max` bytes; stops
/// [`DRAIN_GRACE`] after `exited` if the pipe is still open.
async fn capture(
    stream: Option<impl AsyncRead + Unpin>,
    max: usize,
    exited: &CancellationToken,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let Some(mut stream) = stream else {
        return (kept, truncated);
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let give_up = async {
        exited.cancelled().await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    tokio::pin!(give_up);
    loop {
        let read = tokio::select! {
            read = stream.read(&mut buffer) => read,
            () = &mut give_up => break,
        };
        let chunk = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.get(..n).unwrap_or_default(),
        };
        let room = max.saturating_sub(kept.len());
        if chunk.len() > room {
            truncated = true;
        }
        kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
    }
    (kept, truncated)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![],
        }
    }

    fn limits(timeout_ms: u64, max_output: usize) -> Limits<'static> {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            max_output,
            cwd: None,
        }
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() -> Result<(), String> {
        let out = run(
            &sh("echo out; echo err >&2; exit 3"),
            &limits(5000, 1024),
            &CancellationToken::new(),
        )
        .await?;
        assert_eq!(out.ending, Ending::Exited(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.truncated);
        Ok(())
    }

    #[tokio::test]
    async fn caps_output_without_blocking_the_command() -> Result<(), String> {
        // 2 MB through a 64 KiB pipe: the command must not block on a full pipe.
        let out = run(
            &sh("head -c 2000000 /dev/zero | tr '\\0' x; echo done >&2"),
            &limits(10_000, 1000),
            &CancellationToken::new(),
        )
        .await?;
        assert_eq!(out.ending, Ending::Exited(0));
        assert_eq!(out.stdout.len(), 1000);
        assert_eq!(out.stderr, "done\n");
        assert!(out.truncated);
        Ok(())
    }

    #[tokio::test]
    async fn timeout_kills_the_process_group() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let marker = dir.path().join("survivor");
        // A grandchild that would write the marker after 1 s if it survived.
        let script = format!(
            "(sleep 1; touch {}) & echo started; sleep 30",
            marker.display()
        );
        let start = Instant::now();
        let out = run(&sh(&script), &limits(300, 1024), &CancellationToken::new()).await?;
        assert_eq!(out.ending, Ending::TimedOut);
        assert_eq!(out.stdout, "started\n");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !marker.exists(),
            "a process of the group survived the timeout"
        );
        Ok(())
    }

    #[tokio::test]
    async fn background_leftovers_are_killed_after_exit() -> Result<(), String> {
        let start = Instant::now();
        // The background sleep holds stdout open; it is killed with the group.
        let out = run(
            &sh("sleep 30 & echo quick"),
            &limits(20_000, 1024),
            &CancellationToken::new(),
        )
        .await?;
        assert_eq!(out.ending, Ending::Exited(0));
        assert_eq!(out.stdout, "quick\n");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        Ok(())
    }

    #[tokio::test]
    async fn cancellation_kills_the_command() -> Result<(), String> {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.cancel();
        });
        let out = run(&sh("sleep 30"), &limits(20_000, 1024), &cancel).await?;
        assert_eq!(out.ending, Ending::Cancelled);
        Ok(())
    }

    #[tokio::test]
    async fn missing_programs_and_env() -> Result<(), String> {
        let missing = Invocation {
            argv: vec!["/nonexistent/polyclaw-prog".into()],
            env: vec![],
        };
        let err = run(&missing, &limits(1000, 10), &CancellationToken::new())
            .await
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("cannot run /nonexistent/polyclaw-prog"),
            "{err}"
        );
        let with_env = Invocation {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$A-${HOME:-unset}\"".into(),
            ],
            env: vec![("A".into(), Some("1 2".into())), ("HOME".into(), None)],
        };
        let out = run(&with_env, &limits(5000, 100), &CancellationToken::new()).await?;
        assert_eq!(out.stdout, "1 2-unset\n");
        Ok(())
    }
}
