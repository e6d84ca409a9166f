//! The processes a benchmark runs and the rmcp clients that talk to them.
//!
//! [`Proc`] owns one child (the echo server or `polyclaw serve`), drains its stderr into a short
//! ring of recent lines (for error messages), and stops it politely then firmly: explicitly with
//! [`Proc::stop`], or from `Drop` on every error path, so no child outlives the benchmark.
//! polyclaw stops its own downstreams on SIGTERM; if it were killed outright they would still
//! exit, on end of input.
//!
//! [`Served`] is a process plus an rmcp client connected to it over stdio (the client spawned
//! the process) or Streamable HTTP.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{Peer, RoleClient, ServiceExt as _};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long a process or a handshake may take to come up.
pub const START_WAIT: Duration = Duration::from_secs(30);
/// How long a process gets to exit after SIGTERM before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// Recent stderr lines kept per process.
const LOG_LINES: usize = 40;

/// An rmcp client with no handler of its own (it ignores notifications).
pub type Client = RunningService<RoleClient, ()>;

/// The workspace binaries a benchmark runs.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `target/release/polyclaw`.
    pub polyclaw: PathBuf,
    /// `target/release/polyclaw-server-echo`.
    pub echo: PathBuf,
}

impl Bins {
    /// Builds the workspace's binaries in the benchmark's own profile (release under
    /// `cargo run --release`), with the same command as the tests' [`crate::support::bin_dir`]
    /// (so a suite run builds them once), and returns the paths of polyclaw and the echo server.
    ///
    /// # Errors
    /// When cargo cannot be run or the build fails.
    pub fn build() -> Result<Self> {
        let release = crate::support::bin_dir()?;
        let bins = Self {
            polyclaw: release.join("polyclaw"),
            echo: release.join("polyclaw-server-echo"),
        };
        for bin in [&bins.polyclaw, &bins.echo] {
            ensure!(bin.is_file(), "{} was not built", bin.display());
        }
        Ok(bins)
    }
}

/// A running child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    name: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Spawns `command` with piped stdin, stdout and stderr; stderr is drained in the
    /// background. Take stdin/stdout with [`Proc::take_stdio`].
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The process id (`None` once it has been reaped).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its stdout and stdin, for a stdio client.
    ///
    /// # Errors
    /// When they were taken already.
    pub fn take_stdio(
        &mut self,
    ) -> Result<(tokio::process::ChildStdout, tokio::process::ChildStdin)> {
        let out = self.child.stdout.take().context("stdout already taken")?;
        let inp = self.child.stdin.take().context("stdin already taken")?;
        Ok((out, inp))
    }

    /// Its recent stderr lines, for error messages.
    #[must_use]
    pub fn recent_log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.is_empty() {
            return format!("({} wrote nothing to stderr)", self.name);
        }
        let lines: Vec<&str> = log.iter().map(String::as_str).collect();
        format!(
            "last stderr lines of {}:\n  {}",
            self.name,
            lines.join("\n  ")
        )
    }

    /// Waits until a stderr line contains `marker` and returns that line.
    ///
    /// # Errors
    /// When the process exits first or `within` passes.
    pub async fn wait_for_line(&mut self, marker: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            {
                let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(line) = log.iter().find(|l| l.contains(marker)) {
                    return Ok(line.clone());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) early; {}",
                    self.name,
                    self.recent_log()
                );
            }
            if Instant::now() > deadline {
                bail!("{} did not print {marker:?} in {within:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// VmRSS of the process in KiB, from `/proc/PID/status`.
    ///
    /// # Errors
    /// When the process is gone or the file has no `VmRSS` line.
    pub fn rss_kib(&self) -> Result<u64> {
        let pid = self
            .pid()
            .with_context(|| format!("{} has exited", self.name))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line in /proc/PID/status")?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("cannot parse {line:?}"))
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not exited within a few seconds;
    /// always reaped.
    ///
    /// # Errors
    /// When waiting for it fails.
    pub async fn stop(mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        self.signal(Signal::SIGTERM);
        if tokio::time::timeout(STOP_WAIT, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("bench: {} ignored SIGTERM; killing it", self.name);
            self.child.kill().await?;
        }
        Ok(())
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // An error path: ask politely (polyclaw then stops its own servers), briefly, then
        // kill (`kill_on_drop`) and let tokio reap it.
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.start_kill();
    }
}

/// CPU time and context switches of a process so far, summed over its threads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUse {
    /// Time on a CPU, in µs (`/proc/PID/task/*/schedstat`).
    pub cpu_us: f64,
    /// Context switches, voluntary and not (`/proc/PID/task/*/status`).
    pub switches: f64,
}

impl CpuUse {
    /// Reads it for `pid`. Threads that ended before the call are not counted, so take
    /// differences between two reads of long-lived processes only.
    ///
    /// # Errors
    /// When the process is gone.
    pub fn of(pid: u32) -> Result<Self> {
        let mut total = Self::default();
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .with_context(|| format!("cannot list threads of {pid}"))?;
        for task in tasks.flatten() {
            let dir = task.path();
            // A thread may end between listing and reading: skip it.
            if let Ok(stat) = std::fs::read_to_string(dir.join("schedstat"))
                && let Some(ns) = stat
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            {
                total.cpu_us += ns / 1000.0;
            }
            if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
                total.switches += status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                    .sum::<f64>();
            }
        }
        Ok(total)
    }

    /// What was used between `before` and `self`.
    #[must_use]
    pub fn since(self, before: Self) -> Self {
        Self {
            cpu_us: self.cpu_us - before.cpu_us,
            switches: self.switches - before.switches,
        }
    }

    /// Divided by a number of calls.
    #[must_use]
    pub fn per(self, calls: usize) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "call counts are small")]
        let n = calls.max(1) as f64;
        Self {
            cpu_us: self.cpu_us / n,
            switches: self.switches / n,
        }
    }

    /// Both added up.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            cpu_us: self.cpu_us + other.cpu_us,
            switches: self.switches + other.switches,
        }
    }
}

/// A process and an rmcp client connected to it.
pub struct Served {
    /// The client.
    pub client: Client,
    /// The process (for stdio, the one the client talks to over its pipes).
    pub proc: Proc,
}

impl Served {
    /// Spawns `command` and connects a client over its stdin/stdout with `lifecycle`.
    ///
    /// # Errors
    /// When the process cannot start or the handshake fails.
    pub async fn stdio(
        name: &str,
        command: Command,
        lifecycle: ClientLifecycleMode,
    ) -> Result<Self> {
        let mut proc = Proc::spawn(name, command)?;
        let io = proc.take_stdio()?;
        let client =
            match tokio::time::timeout(START_WAIT, ().serve_with_lifecycle(io, lifecycle)).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => bail!(
                    "MCP handshake with {name} failed: {e}; {}",
                    proc.recent_log()
                ),
                Err(_) => bail!(
                    "{name} did not finish the MCP handshake in {START_WAIT:?}; {}",
                    proc.recent_log()
                ),
            };
        Ok(Self { client, proc })
    }

    /// Connects a client to `url` (Streamable HTTP, 2025-11-25 `initialize`) served by `proc`.
    ///
    /// # Errors
    /// When the handshake fails.
    pub async fn http(proc: Proc, url: &str) -> Result<Self> {
        polyclaw::tls::install_provider();
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let client = match tokio::time::timeout(START_WAIT, ().serve(transport)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => bail!("MCP handshake at {url} failed: {e}; {}", proc.recent_log()),
            Err(_) => bail!("{url} did not finish the MCP handshake in {START_WAIT:?}"),
        };
        Ok(Self { client, proc })
    }

    /// A handle for calls (cheap to clone, usable from many tasks).
    #[must_use]
    pub fn peer(&self) -> Peer<RoleClient> {
        self.client.peer().clone()
    }

    /// Closes the client, then stops the process.
    ///
    /// # Errors
    /// When the process cannot be reaped.
    pub async fn close(self) -> Result<()> {
        let _ = tokio::time::timeout(STOP_WAIT, self.client.cancel()).await;
        self.proc.stop().await
    }
}

/// A `tokio` command for `program` with `args`.
#[must_use]
pub fn command(program: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Builds the `polyclaw/echo:latest` image (`polyclaw images build --only echo`; a no-op
/// compile after the build the bench came from). `who` names what needs it, for the error.
///
/// # Errors
/// When the build fails (no Docker, no engine access).
pub async fn echo_image(bins: &Bins, who: &str) -> Result<()> {
    let out = tokio::process::Command::new(&bins.polyclaw)
        .args(["images", "build", "--only", "echo"])
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "`polyclaw images build --only echo` failed ({who} needs Docker):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The echo server behind a plain byte relay, `socat STDIO EXEC:echo` (no parsing, one extra
/// process): the floor any process between client and server costs.
///
/// # Errors
/// When socat is missing (`scripts/deps.sh` installs it) or the handshake fails.
pub async fn relay_stdio(bins: &Bins, lifecycle: ClientLifecycleMode) -> Result<Served> {
    let socat = which("socat").context(
        "socat is not installed; the benchmark's relay floor needs it (run scripts/deps.sh)",
    )?;
    let exec = format!("EXEC:{}", bins.echo.display());
    Served::stdio(
        "socat relay",
        command(&socat, &["-b", "65536", "STDIO", &exec]),
        lifecycle,
    )
    .await
}

/// A program on `PATH`.
fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// The echo server over stdio, with a 2025-11-25 client.
///
/// # Errors
/// See [`Served::stdio`].
pub async fn echo_stdio(bins: &Bins) -> Result<Served> {
    Served::stdio(
        "echo server",
        command(&bins.echo, &[]),
        ClientLifecycleMode::Initialize,
    )
    .await
}

/// The echo server over Streamable HTTP on a free loopback port, with a client.
///
/// # Errors
/// When it does not come up.
pub async fn echo_http(bins: &Bins) -> Result<Served> {
    let mut proc = Proc::spawn(
        "echo server (HTTP)",
        command(&bins.echo, &["--http", "127.0.0.1:0"]),
    )?;
    let line = proc
        .wait_for_line("listening on http://", START_WAIT)
        .await?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("no URL in {line:?}"))?
        .to_owned();
    Served::http(proc, &url).await
}

/// A `polyclaw.toml` in a temporary folder (deleted on drop).
pub struct Config {
    /// The folder.
    _dir: tempfile::TempDir,
    /// The file.
    pub path: PathBuf,
}

impl Config {
    /// Writes a config with `servers` echo servers: one named `echo` if `servers == 1`,
    /// else `e1` … `eN`; all started at boot.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn echo_servers(bins: &Bins, servers: usize) -> Result<Self> {
        let command = toml_string(&bins.echo.to_string_lossy());
        let mut text = String::new();
        for i in 1..=servers {
            let name = if servers == 1 {
                "echo".to_owned()
            } else {
                format!("e{i}")
            };
            text.push_str(&format!(
                "[servers.{name}]\ncommand = {command}\nstart = \"boot\"\n\n"
            ));
        }
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("polyclaw.toml");
        std::fs::write(&path, text)?;
        Ok(Self { _dir: dir, path })
    }
}

impl Config {
    /// The same config with `[policy] autonomy = "full"`: for figures whose client calls
    /// tools that are not read-only (the bench's client cannot be asked for approval).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn unguarded(self) -> Result<Self> {
        let mut text = std::fs::read_to_string(&self.path)?;
        text.push_str("\n[policy]\nautonomy = \"full\"\n");
        std::fs::write(&self.path, text)?;
        Ok(self)
    }

    /// Writes `text` as a config in a fresh folder; `{dir}` in it becomes that folder.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn from_text(text: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("polyclaw.toml");
        let text = text.replace("{dir}", &toml_string(&dir.path().to_string_lossy()));
        std::fs::write(&path, text)?;
        Ok(Self { _dir: dir, path })
    }
}

/// A TOML basic string (JSON string escapes are valid TOML ones).
fn toml_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// `polyclaw --config CONFIG serve` over stdio, with a client of the given era.
///
/// # Errors
/// See [`Served::stdio`].
pub async fn polyclaw_stdio(
    bins: &Bins,
    config: &Config,
    lifecycle: ClientLifecycleMode,
) -> Result<Served> {
    let mut c = Command::new(&bins.polyclaw);
    c.arg("--config").arg(&config.path).arg("serve");
    Served::stdio("polyclaw", c, lifecycle).await
}

/// `polyclaw --config CONFIG serve --http 127.0.0.1:PORT` on a free port, with a client.
///
/// # Errors
/// When it does not come up.
pub async fn polyclaw_http(bins: &Bins, config: &Config) -> Result<Served> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut c = Command::new(&bins.polyclaw);
    c.arg("--config")
        .arg(&config.path)
        .args(["serve", "--http", &addr]);
    let mut proc = Proc::spawn("polyclaw (HTTP)", c)?;
    let deadline = Instant::now() + START_WAIT;
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        if let Some(status) = proc.child.try_wait()? {
            bail!("polyclaw exited ({status}) early; {}", proc.recent_log());
        }
        ensure!(
            Instant::now() < deadline,
            "polyclaw did not listen on {addr} in {START_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Served::http(proc, &format!("http://{addr}/mcp")).await
}

/// Arguments as a JSON object.
///
/// # Errors
/// When `value` is not an object.
pub fn args(value: Value) -> Result<JsonObject> {
    match value {
        Value::Object(o) => Ok(o),
        other => Err(anyhow!("arguments must be an object, not {other}")),
    }
}

/// Calls a tool and fails on a protocol error or an error result.
///
/// # Errors
/// When the call fails or the tool reports an error.
pub async fn call(
    peer: &Peer<RoleClient>,
    params: CallToolRequestParams,
) -> Result<CallToolResult> {
    let name = params.name.clone();
    let result = peer
        .call_tool(params)
        .await
        .with_context(|| format!("calling {name}"))?;
    if result.is_error == Some(true) {
        bail!("{name} returned an error: {}", first_text(&result));
    }
    Ok(result)
}

/// The first text block of a result (empty if none).
#[must_use]
pub fn first_text(result: &CallToolResult) -> &str {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map_or("", |t| t.text.as_str())
}
