//! What polyclaw's stdio servers (`exec`, `fs`, `http`, `memory`, `openapi`) share: their
//! `main` ([`main`]: help, usage errors with exit code 2, failures with exit code 1), the
//! `--FLAG FILE [--check]` command line of the servers made from one file ([`file_and_check`]),
//! and serving one client on stdin/stdout with a clean exit on stdin EOF, SIGTERM and SIGINT
//! ([`run_stdio`], [`stdio`]).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rmcp::{ServerHandler, ServiceExt, service::ServerInitializeError, transport::stdio_pipes};
use tokio_util::sync::CancellationToken;

/// Serves one client on stdin/stdout until EOF or a signal.
pub async fn stdio<S: ServerHandler>(server: S) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        signal().await;
        on_signal.cancel();
    });
    let running = match server.serve_with_ct(stdio_pipes(), stop).await {
        Ok(running) => running,
        // EOF or a signal before the first message: nothing to serve.
        Err(ServerInitializeError::ConnectionClosed(_) | ServerInitializeError::Cancelled) => {
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    running.waiting().await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (never, if they cannot be listened for).
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (term, int) => {
            eprintln!(
                "cannot listen for signals: {:?} {:?}",
                term.err(),
                int.err()
            );
            std::future::pending::<()>().await;
        }
    }
}

/// What a server's command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<O> {
    /// Serve with these options.
    Run(O),
    /// Print the usage and exit.
    Help,
}

/// A server's `main`: `--help` prints `usage` (exit 0); a bad command line prints the error
/// and `usage` (exit 2); otherwise `run`, whose error is printed with its causes (exit 1).
pub fn main<O>(
    name: &str,
    usage: &str,
    parsed: Result<Command<O>, String>,
    run: impl FnOnce(O) -> anyhow::Result<()>,
) -> ExitCode {
    let options = match parsed {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            eprintln!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{name}: {err}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Makes the server on a current-thread runtime and serves it on stdin/stdout; at the end it
/// does not wait for a blocked stdin read (non-FIFO stdin) to return.
///
/// # Errors
/// The runtime cannot start, `make` fails, or serving fails.
pub fn run_stdio<S: ServerHandler>(
    make: impl Future<Output = anyhow::Result<S>>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async { stdio(make.await?).await });
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The options of a server made from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    /// The file (`--FLAG FILE` or `--FLAG=FILE`).
    pub file: PathBuf,
    /// `--check`: validate it, list the tools on stderr and exit.
    pub check: bool,
}

/// Parses `--FLAG FILE [--check]` (`flag` without its dashes, e.g. `manifest`), the arguments
/// after the program name.
///
/// # Errors
/// What is wrong, for the usage message.
pub fn file_and_check<I>(args: I, flag: &str) -> Result<Command<FileOptions>, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let long = format!("--{flag}");
    let mut file = None;
    let mut check = false;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            n if n == long => {
                let value = inline
                    .or_else(|| args.next())
                    .filter(|value| !value.is_empty())
                    .ok_or_else(|| format!("{long} needs a file"))?;
                file = Some(PathBuf::from(value));
            }
            "--check" if inline.is_none() => check = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let file = file.ok_or_else(|| format!("{long} FILE is required"))?;
    Ok(Command::Run(FileOptions { file, check }))
}

/// For the servers' tests: an rmcp client talking to a server in the same process over an
/// in-memory duplex, in either protocol era. (Always compiled, not behind a feature: a feature
/// that only dev-dependencies turn on would make the test build and the release build compile
/// this crate, and every server above it, twice.)
pub mod testing {
    use anyhow::{Context as _, bail};
    use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
    use rmcp::service::{ClientLifecycleMode, RunningService};
    use rmcp::{ClientServiceExt, RoleClient, ServerHandler, ServiceExt};
    use serde_json::Value;

    /// A connected client.
    pub type Client = RunningService<RoleClient, ()>;

    /// Serves `server` in a task and connects a client to it: `initialize` (2025-11-25), or
    /// with `modern` `server/discover` (2026-07-28).
    ///
    /// # Errors
    /// The handshake fails.
    pub async fn connect<S: ServerHandler>(server: S, modern: bool) -> anyhow::Result<Client> {
        let (server_io, client_io) = tokio::io::duplex(256 * 1024);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        Ok(if modern {
            ().serve_with_lifecycle(
                client_io,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await?
        } else {
            ().serve(client_io).await?
        })
    }

    /// Calls `tool` with `args` (an object).
    ///
    /// # Errors
    /// `args` is not an object, or the call fails (naming the tool).
    pub async fn call(client: &Client, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
        let Value::Object(arguments) = args else {
            bail!("arguments must be an object");
        };
        client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
            .await
            .with_context(|| format!("calling {tool}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_file_and_check() {
        assert_eq!(
            file_and_check(["--manifest", "tools.toml"], "manifest"),
            Ok(Command::Run(FileOptions {
                file: "tools.toml".into(),
                check: false
            }))
        );
        assert_eq!(
            file_and_check(["--check", "--config=a.json"], "config"),
            Ok(Command::Run(FileOptions {
                file: "a.json".into(),
                check: true
            }))
        );
        assert_eq!(file_and_check(["-h"], "config"), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_arguments() {
        let parse = |args: &[&str]| file_and_check(args.iter().copied(), "config");
        assert!(parse(&[]).is_err_and(|e| e.contains("--config FILE is required")));
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["--config="]).is_err());
        assert!(parse(&["--check=yes", "--config", "a"]).is_err());
        assert!(parse(&["--manifest", "a"]).is_err_and(|e| e.contains("--manifest")));
    }
}
