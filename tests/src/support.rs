//! Starting the real thing: the workspace's binaries (polyclaw and our MCP servers), a
//! `polyclaw serve` process on a free loopback port with a config written for the test, and
//! small HTTP helpers. Every child is killed when its handle drops, so a failing test leaves
//! nothing running.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::python::{target_dir, workspace_root};

/// The cargo profile this executable was built with (`dev` under `cargo test` and
/// scripts/test.sh, `release` under `cargo run --release`): the binaries the tests start come
/// from the same profile, so one build serves the tests, the benchmark and the images. The
/// same reading of the executable's folder as `polyclaw images build` makes.
#[must_use]
pub fn profile() -> String {
    polyclaw::runtime::docker::cargo::own_profile()
}

/// The folder cargo puts `profile`'s binaries in (`dev` builds go to `debug/`).
fn profile_dir(profile: &str) -> &str {
    if profile == "dev" { "debug" } else { profile }
}

/// Builds (once per test process) every binary of the workspace in this executable's
/// [`profile`], and returns the folder holding them. It is the same command as
/// scripts/test.sh's first build, so under the suite it finds everything fresh; and since the
/// workspace declares every dependency's features in one place, it shares all compiled
/// dependencies with the test build.
pub fn bin_dir() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let mut cargo = Command::new(env!("CARGO"));
            // Without this test's CARGO_MANIFEST_DIR & co.: a build script watching them
            // would rebuild half the graph each time a shell build and a test build alternate.
            let status = polyclaw::runtime::docker::cargo::without_crate_env(&mut cargo)
                .current_dir(workspace_root())
                .args(["build", "--locked", "--workspace", "--bins", "--profile"])
                .arg(profile())
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err(format!("cargo build failed: {status}"));
            }
            Ok(target_dir().join(profile_dir(&profile())))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Path of a workspace binary.
pub fn bin(name: &str) -> Result<PathBuf> {
    Ok(bin_dir()?.join(name))
}

/// A free loopback port (bound then released; fine for tests).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A temporary folder with a polyclaw.toml in it.
pub struct TestConfig {
    /// The folder (deleted on drop).
    pub dir: tempfile::TempDir,
    /// The config file.
    pub path: PathBuf,
}

impl TestConfig {
    /// Writes `toml` to a fresh folder. `{bin}` is replaced with the binaries' folder and
    /// `{python}` with the test venv's python. A config that says nothing of `[policy]` gets
    /// `autonomy = "full"`: the tests of everything but the guardrails call tools that are not
    /// read-only with clients that cannot be asked (tests/tests/guardrails.rs holds the
    /// default policy's behaviour).
    pub fn new(toml: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("polyclaw.toml");
        let mut text = toml.replace("{bin}", &bin_dir()?.to_string_lossy());
        if !text.contains("[policy") {
            text.push_str("\n[policy]\nautonomy = \"full\"\n");
        }
        if text.contains("{python}") {
            text = text.replace("{python}", &crate::python::python()?.to_string_lossy());
        }
        std::fs::write(&path, text)?;
        Ok(Self { dir, path })
    }
}

/// A running `polyclaw serve --http` process.
pub struct Polyclaw {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    /// Its stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl Polyclaw {
    /// Starts `polyclaw --config CONFIG serve --http 127.0.0.1:PORT EXTRA...` and waits until
    /// `/healthz` answers.
    pub fn start(config: &Path, extra: &[&str]) -> Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin("polyclaw")?)
            .arg("--config")
            .arg(config)
            .args(["serve", "--http", &addr])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "polyclaw=debug,info")
            // State (runs, tool pins) beside the config, not in the user's home.
            .env(
                "XDG_STATE_HOME",
                config.parent().unwrap_or(Path::new(".")).join("state"),
            )
            .spawn()
            .context("cannot start polyclaw")?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("[polyclaw] {line}");
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let this = Self {
            child,
            url: format!("http://{addr}/mcp"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(this);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("polyclaw did not listen on {addr} within 30 s")
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `within`) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("polyclaw did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Polyclaw {
    /// Stops polyclaw as a user would (SIGTERM, so it removes its children and containers),
    /// and kills it only if it does not exit within ten seconds.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None))
            && self.terminate(Duration::from_secs(10)).is_err()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether a process with this pid exists (and is not a zombie).
#[must_use]
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // state is the field after the parenthesised command name
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
        Err(_) => false,
    }
}

/// The `result` of a successful driver line for `op`, or an error naming the line.
pub fn ok_result<'a>(line: &'a serde_json::Value, op: &str) -> Result<&'a serde_json::Value> {
    anyhow::ensure!(line["op"] == op, "expected a {op} line, got {line}");
    anyhow::ensure!(line["ok"] == true, "{op} failed: {line}");
    line.get("result").context("no result")
}

/// Names of the tools in a `list_tools` result.
#[must_use]
pub fn tool_names(result: &serde_json::Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default()
}

/// The first text content of a tool result.
#[must_use]
pub fn first_text(result: &serde_json::Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// A git repository with one commit, for `mcp-server-git`.
pub fn git_repo() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let run = |args: &[&str]| -> Result<()> {
        let status = Command::new("git")
            .current_dir(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "git {args:?} failed");
        Ok(())
    };
    run(&["init", "-q", "-b", "main"])?;
    run(&["config", "user.email", "t@example.invalid"])?;
    run(&["config", "user.name", "t"])?;
    std::fs::write(dir.path().join("README"), "hello\n")?;
    run(&["add", "README"])?;
    run(&["commit", "-q", "-m", "first"])?;
    std::fs::write(dir.path().join("new.txt"), "untracked\n")?;
    Ok(dir)
}

/// The lines `docker ARGS…` prints (empty ones dropped).
///
/// # Errors
/// When docker cannot run or fails.
pub fn docker_lines(args: &[&str]) -> Result<Vec<String>> {
    let out = Command::new("docker").args(args).output()?;
    anyhow::ensure!(out.status.success(), "docker {args:?} failed: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect())
}

/// Runs `polyclaw images build --only IMAGES…` (like a user would); the error says what
/// failed. Tests call it once per process (behind a `OnceLock`).
///
/// # Errors
/// The build's stderr, or why polyclaw could not run.
pub fn build_images(only: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new(bin("polyclaw").map_err(|e| e.to_string())?)
        .args(["images", "build", "--only"])
        .args(only)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`polyclaw images build --only {}` failed (these tests need a running Docker engine):\n{}",
            only.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A config for generation tests: its own state folder (registrations live there, returned
/// too) and an echo server named `local`.
///
/// # Errors
/// The folder or config cannot be written.
pub fn generation_config() -> Result<(TestConfig, PathBuf)> {
    let state = tempfile::tempdir()?.keep();
    let config = TestConfig::new(&format!(
        r#"
[plans]
state_dir = "{}"

[servers.local]
command = "{{bin}}/polyclaw-server-echo"
"#,
        state.display()
    ))?;
    Ok((config, state))
}

/// Runs the `polyclaw` CLI with `config` and `args` (info logs from polyclaw on stderr).
///
/// # Errors
/// polyclaw cannot be built or started.
pub fn polyclaw_cli(config: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(bin("polyclaw")?)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "polyclaw=info,warn")
        // The same state folder as `Polyclaw::start` with this config.
        .env(
            "XDG_STATE_HOME",
            config.parent().unwrap_or(Path::new(".")).join("state"),
        )
        .output()?)
}

/// Images and containers (any state) labelled as server `name`'s.
///
/// # Errors
/// docker cannot list them.
pub fn leftovers(name: &str) -> Result<(Vec<String>, Vec<String>)> {
    let label = format!("label=io.polyclaw.server={name}");
    let images = docker_lines(&["images", "-q", "--filter", &label])?;
    let containers = docker_lines(&["ps", "-aq", "--filter", &label])?;
    Ok((images, containers))
}

/// `base` made unique to this test process (server names shared by parallel test binaries).
#[must_use]
pub fn unique(base: &str) -> String {
    format!("{base}{}", std::process::id())
}

/// `polyclaw generate --template TEMPLATE --spec SPEC` with `config`.
///
/// # Errors
/// polyclaw cannot be built or started.
pub fn generate_cli(config: &Path, template: &str, spec: &Path) -> Result<std::process::Output> {
    polyclaw_cli(
        config,
        &[
            "generate",
            "--template",
            template,
            "--spec",
            &spec.to_string_lossy(),
        ],
    )
}

/// Fails unless server `name` left nothing behind: no image, no container, no registration
/// in `state`.
///
/// # Errors
/// What is left, or why docker could not say.
pub fn nothing_left(name: &str, state: &Path) -> Result<()> {
    let (images, containers) = leftovers(name)?;
    anyhow::ensure!(
        images.is_empty() && containers.is_empty(),
        "nothing left: images {images:?}, containers {containers:?}"
    );
    let registration = state.join("generated").join(format!("{name}.toml"));
    anyhow::ensure!(
        !registration.exists(),
        "nothing registered: {} exists",
        registration.display()
    );
    Ok(())
}
