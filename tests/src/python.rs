//! Python MCP peers: a venv with exactly `tests/py/requirements.txt` installed (the Python `mcp`
//! SDK, `mcp-server-time`, `mcp-server-git`), and helpers to run the client driver
//! `tests/py/mcp_client.py`.
//!
//! The venv lives at `<target dir>/pyenv` and is built on first use by [`python`]; nothing needs
//! installing by hand beyond `python3` with its `venv` module (Debian: `python3-venv`) and access
//! to PyPI. A stamp file inside the venv holds the requirements it was built from, so editing
//! `requirements.txt` rebuilds it. Building is guarded by a file lock (`<target dir>/pyenv.lock`),
//! so any number of test binaries and threads may call [`python`] at once.
//!
//! Environment:
//! - `CARGO_TARGET_DIR`: where the venv goes (relative paths are taken from the workspace root).
//! - `POLYCLAW_TEST_PYTHON`: the base interpreter that creates the venv (default `python3`).

use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// Name of the file, inside the venv, holding the requirements the venv was built from.
const STAMP_FILE: &str = ".polyclaw-requirements";
/// First line of the stamp; bump it to force a rebuild when the build procedure changes.
const STAMP_HEADER: &str = "polyclaw-tests pyenv v1";
/// How long [`run_mcp_client`] lets the driver run.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);

/// The workspace root (the directory holding the workspace `Cargo.toml`). Needs no Python.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => manifest_dir.join(".."),
    }
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<workspace root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// The pinned Python requirements, `tests/py/requirements.txt`.
pub fn requirements_file() -> PathBuf {
    workspace_root().join("tests/py/requirements.txt")
}

/// The scriptable Python MCP client, `tests/py/mcp_client.py` (usage in its docstring).
pub fn mcp_client_script() -> PathBuf {
    workspace_root().join("tests/py/mcp_client.py")
}

/// Where the test venv lives: `<target dir>/pyenv`.
pub fn venv_dir() -> PathBuf {
    target_dir().join("pyenv")
}

/// Makes sure the test venv exists with exactly `tests/py/requirements.txt` installed and
/// returns the path of its Python interpreter.
///
/// The first call builds the venv (about half a minute); later calls, from any process, only
/// check its stamp. Progress goes straight to stderr (not captured by the test harness), since
/// an install is slow enough to look like a hang.
pub fn python() -> Result<PathBuf> {
    // Threads of one test binary wait here; processes wait on the file lock below.
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(python) = ready.as_ref() {
        return Ok(python.clone());
    }
    let python = ensure_venv(&venv_dir(), &requirements_file())?;
    *ready = Some(python.clone());
    Ok(python)
}

/// A command running the client driver with the test venv's Python: `python mcp_client.py ARGS`.
///
/// Write the JSON array of operations to its stdin; it prints one JSON line per operation.
pub fn mcp_client_command<I, S>(args: I) -> Result<Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(python()?);
    command.arg(mcp_client_script()).args(args);
    Ok(command)
}

/// Runs the client driver with `args` (e.g. `["--stdio", "--", python, "-m", "mcp_server_time"]`)
/// on the operations `ops` (a JSON array), and returns its output lines, one per operation.
///
/// Fails if the driver cannot open the session (non-zero exit), does not finish within two
/// minutes, or prints something other than one JSON object per operation. The driver's stderr
/// is included in errors and otherwise echoed through the test harness's captured stderr.
pub fn run_mcp_client<I, S>(args: I, ops: &Value) -> Result<Vec<Value>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let expected = ops
        .as_array()
        .context("the driver's operations must be a JSON array")?
        .len();
    let command = mcp_client_command(args)?;
    let description = format!("{command:?}");
    let output = run_with_input(command, serde_json::to_vec(ops)?, DRIVER_TIMEOUT)
        .with_context(|| format!("running {description}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "the MCP client driver failed ({}): {description}\n--- stderr ---\n{stderr}",
            output.status
        );
    }
    if !stderr.trim().is_empty() {
        eprintln!("--- mcp_client.py stderr ---\n{stderr}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .with_context(|| format!("the driver printed a line that is not JSON: {line:?}"))
        })
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("--- stderr ---\n{stderr}"))?;
    if lines.len() != expected {
        bail!(
            "the driver answered {} of {expected} operations\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            lines.len()
        );
    }
    Ok(lines)
}

/// Spawns `command`, writes `input` to its stdin, and collects its output, killing it after
/// `timeout`.
fn run_with_input(mut command: Command, input: Vec<u8>, timeout: Duration) -> Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut stdin = child.stdin.take().context("the child has no stdin")?;
    let writer = thread::spawn(move || stdin.write_all(&input));
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        // The receiver is gone only if we gave up; nothing is left to tell then.
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(output) => output?,
        Err(_) => {
            // The waiter owns the child, so kill it by pid; it has not been reaped yet.
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // Not joining the waiter: a server the driver spawned may still hold its stderr.
            drop(waiter);
            bail!("timed out after {timeout:?}");
        }
    };
    let _ = waiter.join();
    // A driver that exits before reading all of stdin makes this fail; its status says why.
    let _ = writer.join();
    Ok(output)
}

/// Builds or reuses the venv at `venv` for `requirements`; returns its Python.
// `File::lock` is stable since Rust 1.89 while the workspace declares 1.88; the toolchain in use
// is newer, and the tests are not part of what the MSRV promises.
#[allow(clippy::incompatible_msrv)]
fn ensure_venv(venv: &Path, requirements: &Path) -> Result<PathBuf> {
    let wanted = fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp_body = format!("{STAMP_HEADER}\n{wanted}");
    let python = venv_python(venv);
    let stamp = venv.join(STAMP_FILE);

    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock_path = venv.with_extension("lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            progress(format_args!(
                "waiting for another test process to set up {}",
                venv.display()
            ));
            lock.lock()
                .with_context(|| format!("locking {}", lock_path.display()))?;
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()));
        }
    }

    // Under the lock: nobody else is building, so the stamp tells the truth.
    if python.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_body) {
        return Ok(python);
    }
    if venv.exists() {
        progress(format_args!(
            "{} is out of date with {}; rebuilding it",
            venv.display(),
            requirements.display()
        ));
        fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    if let Err(e) = build_venv(venv, requirements, &python) {
        // Leave no half-built venv behind; the next call starts over.
        let _ = fs::remove_dir_all(venv);
        return Err(e);
    }
    let tmp = venv.join(format!("{STAMP_FILE}.tmp"));
    fs::write(&tmp, &stamp_body).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &stamp).with_context(|| format!("writing {}", stamp.display()))?;
    // Dropping `lock` closes the file, which releases the lock.
    Ok(python)
}

/// Creates the venv and installs the requirements into it.
fn build_venv(venv: &Path, requirements: &Path, python: &Path) -> Result<()> {
    let base = std::env::var_os("POLYCLAW_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let started = Instant::now();
    progress(format_args!(
        "creating a Python venv at {} (once; about half a minute)",
        venv.display()
    ));
    let output = Command::new(&base)
        .arg("-m")
        .arg("venv")
        .arg(venv)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "{} was not found: the end-to-end tests need Python 3.10 or newer with its venv \
             module. Install it (Debian/Ubuntu: `apt-get install python3 python3-venv`) or set \
             POLYCLAW_TEST_PYTHON to a Python interpreter.",
            base.to_string_lossy()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("running {}", base.to_string_lossy()));
        }
    };
    if !output.status.success() || !python.is_file() {
        bail!(
            "`{} -m venv {}` failed ({}). The end-to-end tests need Python's venv module with \
             ensurepip: on Debian/Ubuntu install the python3-venv package \
             (`apt-get install python3-venv`).\n{}",
            base.to_string_lossy(),
            venv.display(),
            output.status,
            output_tail(&output)
        );
    }

    progress(format_args!(
        "installing {} into {}",
        requirements.display(),
        venv.display()
    ));
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .arg("--requirement")
        .arg(requirements)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "installing {} failed ({}). PyPI must be reachable (pip honours PIP_INDEX_URL and \
             proxy variables).\n{}",
            requirements.display(),
            output.status,
            output_tail(&output)
        );
    }
    progress(format_args!(
        "Python venv ready in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        python.display()
    ));
    Ok(())
}

/// The interpreter inside a venv.
fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// The last lines of a failed command's output, for error messages.
fn output_tail(output: &Output) -> String {
    const LINES: usize = 40;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LINES);
    format!(
        "--- output (last {LINES} lines) ---\n{}",
        lines[start..].join("\n")
    )
}

/// Prints a progress line to the process's real stderr, bypassing the test harness's capture.
fn progress(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "polyclaw-tests: {message}");
}
