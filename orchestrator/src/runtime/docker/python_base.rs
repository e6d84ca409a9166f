//! The Python base image of the `python` template, built here with no registry:
//!
//! 1. `debootstrap --variant=minbase --include=python3` a Debian root file system (network
//!    bound: a few minutes, once);
//! 2. `pip install --target /opt/mcp` the pinned Python MCP SDK into it, as wheels for its
//!    Python (`--platform manylinux2014_x86_64 --only-binary=:all:`, so nothing is compiled);
//! 3. check it in a chroot: the SDK imports and its bytecode is compiled (containers run with
//!    a read-only root, where Python could not write its caches);
//! 4. pack it as a tar and import it through the engine as [`DEFAULT_TAG`], with
//!    `PYTHONPATH=/opt/mcp`.
//!
//! `polyclaw images base python` runs this; the generation pipeline runs it when the default
//! base is missing. A configured base (`generate.python_base`) is used as it is and never
//! built: it needs `python3` (3.10 or later) with the `mcp` 2.x SDK importable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::Error;
use crate::runtime::docker::{self, Engine};

/// The pinned Python MCP SDK (the one polyclaw's interop tests use).
pub const MCP_VERSION: &str = "2.3.0";
/// The Debian release the base comes from (its Python is 3.11).
pub const SUITE: &str = "bookworm";
/// The Python version of [`SUITE`], for pip's wheel selection.
pub const PYTHON_VERSION: &str = "3.11";
/// Where Debian packages come from by default.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The tag of the base polyclaw builds.
pub const DEFAULT_TAG: &str = "polyclaw/python-base:bookworm-mcp2.3.0";
/// Where the SDK lives in the image.
pub const SDK_DIR: &str = "/opt/mcp";

/// Receives one line per step and what the tools print.
pub type Report<'a> = &'a mut (dyn FnMut(&str) + Send);

/// The base image to use: `configured`, else [`DEFAULT_TAG`].
#[must_use]
pub fn base_tag(configured: Option<&str>) -> &str {
    configured.unwrap_or(DEFAULT_TAG)
}

/// Makes sure the base image exists: a configured one must already be there; the default
/// one is built when missing. Returns whether it was built now.
///
/// # Errors
/// [`Error::InvalidInput`] for a missing configured base; build errors otherwise.
pub async fn ensure(
    engine: &Engine,
    configured: Option<&str>,
    report: Report<'_>,
) -> Result<bool, Error> {
    let tag = base_tag(configured);
    if engine.image_exists(tag).await? {
        return Ok(false);
    }
    if configured.is_some_and(|c| c != DEFAULT_TAG) {
        return Err(Error::InvalidInput(format!(
            "the Python base image `{tag}` (generate.python_base) is not on this engine; load or build it, or remove `python_base` to use polyclaw's own (`polyclaw images base python`)"
        )));
    }
    report(&format!(
        "the Python base image {tag} is missing: building it once (debootstrap, a few minutes)"
    ));
    build_once(engine, DEFAULT_MIRROR, false, report).await
}

/// Builds [`DEFAULT_TAG`] unless it exists (or always, with `rebuild`), holding a machine-wide
/// lock: polyclaws (or tests) that find it missing at the same time build it once, and the
/// others wait and then find it. Returns whether it was built now.
///
/// # Errors
/// The lock cannot be taken, or the build fails (see [`build`]).
pub async fn build_once(
    engine: &Engine,
    mirror: &str,
    rebuild: bool,
    report: Report<'_>,
) -> Result<bool, Error> {
    let lock_path = std::env::temp_dir().join("polyclaw-python-base.lock");
    let lock = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| Error::Io {
        context: "the lock task failed".into(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|source| Error::Io {
        context: "cannot take the lock on building the Python base image (in the temporary folder)"
            .into(),
        source,
    })?;
    if !rebuild && engine.image_exists(DEFAULT_TAG).await? {
        return Ok(false);
    }
    build(engine, mirror, report).await?;
    drop(lock);
    Ok(true)
}

/// Builds [`DEFAULT_TAG`] (replacing an existing one).
///
/// # Errors
/// [`Error::InvalidInput`] when a tool is missing or polyclaw is not root; [`Error::Io`] with
/// the failing step's output otherwise.
pub async fn build(engine: &Engine, mirror: &str, report: Report<'_>) -> Result<(), Error> {
    preflight()?;
    let work = tempfile::Builder::new()
        .prefix("polyclaw-python-base.")
        .tempdir()
        .map_err(|source| Error::Io {
            context: "cannot create a temporary folder for the Python base".into(),
            source,
        })?;
    let root = work.path().join("root");
    let began = Instant::now();

    report(&format!(
        "[1/5] debootstrap {SUITE} (minbase + python3) from {mirror}"
    ));
    let mut packages = 0usize;
    run_blocking(
        debootstrap_command(&root, mirror),
        "debootstrap",
        report,
        &mut |line| {
            if line.starts_with("I: Retrieving") {
                packages += 1;
                packages
                    .is_multiple_of(20)
                    .then(|| format!("  {packages} packages retrieved"))
            } else if line.starts_with("I: Installing core")
                || line.starts_with("I: Unpacking the base")
                || line.starts_with("I: Configuring the base")
                || line.starts_with("I: Base system installed")
            {
                Some(format!("  {}", line.trim_start_matches("I: ")))
            } else {
                None
            }
        },
    )
    .await?;
    slim(&root);

    report(&format!(
        "[2/5] pip install mcp=={MCP_VERSION} into {SDK_DIR} (wheels for Python {PYTHON_VERSION})"
    ));
    run_blocking(pip_command(&root), "pip install", report, &mut |_| None).await?;

    report("[3/5] checking it in a chroot: the SDK imports; bytecode compiled");
    let mut check = Command::new("chroot");
    check
        .arg(&root)
        .args([
            "/usr/bin/env",
            &format!("PYTHONPATH={SDK_DIR}"),
            "python3",
            "-c",
        ])
        .arg(
            "import compileall, sys\n\
             import mcp.server.mcpserver, mcp.types\n\
             ok = compileall.compile_dir('/opt/mcp', quiet=1, workers=1)\n\
             print(sys.version.split()[0])\n\
             sys.exit(0 if ok else 1)",
        );
    run_blocking(check, "the import check", report, &mut |l| {
        Some(format!("  Python {l}"))
    })
    .await?;

    report("[4/5] packing the root file system");
    let pack_root = root.clone();
    let tar = tokio::task::spawn_blocking(move || pack(&pack_root))
        .await
        .map_err(|e| io_error("packing the root file system", e.to_string()))??;
    report(&format!("  {} MiB", tar.len() / (1024 * 1024)));

    report(&format!("[5/5] importing it as {DEFAULT_TAG}"));
    let changes = vec![
        format!("ENV PYTHONPATH={SDK_DIR}"),
        "ENV PYTHONDONTWRITEBYTECODE=1".to_string(),
        "ENV PYTHONUNBUFFERED=1".to_string(),
        "ENV LANG=C.UTF-8".to_string(),
        format!("LABEL io.polyclaw.image=python-base io.polyclaw.mcp-sdk={MCP_VERSION}"),
    ];
    docker::import_rootfs(engine, DEFAULT_TAG, tar, &changes).await?;
    report(&format!(
        "built {DEFAULT_TAG} in {} s",
        began.elapsed().as_secs()
    ));
    Ok(())
}

/// What the build needs on this machine, checked before anything is downloaded.
fn preflight() -> Result<(), Error> {
    // /proc/self belongs to the process's effective user.
    let root = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata("/proc/self")
            .map_err(|e| io_error("reading /proc/self", e.to_string()))?,
    ) == 0;
    if !root {
        return Err(Error::InvalidInput(
            "building the Python base image needs root (debootstrap and chroot): run `sudo polyclaw images base python`, or set `generate.python_base` to an image you have".into(),
        ));
    }
    let found = |tool: &str| {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
            || which(tool).is_some()
    };
    if !found("debootstrap") {
        return Err(Error::InvalidInput(
            "building the Python base image needs debootstrap: `apt-get install debootstrap` (scripts/deps.sh does it)".into(),
        ));
    }
    let pip = Command::new(python())
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !pip.is_ok_and(|s| s.success()) {
        return Err(Error::InvalidInput(format!(
            "building the Python base image needs pip on this machine ({} -m pip) to fetch the MCP SDK: `apt-get install python3-pip`, or set POLYCLAW_PYTHON to a Python that has it",
            python().display()
        )));
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// The host Python that runs pip: `POLYCLAW_PYTHON`, else `python3`.
fn python() -> PathBuf {
    std::env::var_os("POLYCLAW_PYTHON").map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

fn debootstrap_command(root: &Path, mirror: &str) -> Command {
    let mut c = Command::new("debootstrap");
    c.args(["--variant=minbase", "--include=python3", SUITE])
        .arg(root)
        .arg(mirror);
    // debootstrap and the package scripts it runs look for tools in the sbin folders.
    c.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    c
}

fn pip_command(root: &Path) -> Command {
    let mut c = Command::new(python());
    c.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--target",
    ])
    .arg(root.join(SDK_DIR.trim_start_matches('/')))
    .args([
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--platform",
        "manylinux2014_x86_64",
        &format!("mcp=={MCP_VERSION}"),
    ]);
    c
}

/// Drops what a container never needs: package caches and lists, docs, device nodes (the
/// engine provides /dev).
fn slim(root: &Path) {
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "dev",
        "run",
        "tmp",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let _ = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// The root file system as a tar (symlinks kept as links, owners and modes kept).
fn pack(root: &Path) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", root)
        .and_then(|()| builder.into_inner())
        .map_err(|e| io_error("packing the root file system", e.to_string()))
}

fn io_error(doing: &str, cause: String) -> Error {
    Error::Io {
        context: format!("building the Python base image: {doing} failed"),
        source: std::io::Error::other(cause),
    }
}

/// Runs `command` off the async threads; each output line goes through `summary` (a line to
/// report, or nothing) and into the tail kept for the error.
async fn run_blocking(
    mut command: Command,
    what: &'static str,
    report: Report<'_>,
    summary: &mut (dyn FnMut(&str) -> Option<String> + Send),
) -> Result<(), Error> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::task::spawn_blocking(move || -> Result<(bool, Vec<String>), String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {what}: {e}"))?;
        let stderr = child.stderr.take();
        let err_tx = tx.clone();
        let err_thread = std::thread::spawn(move || forward_lines(stderr, &err_tx));
        let mut tail = forward_lines(child.stdout.take(), &tx);
        let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
        let mut err_tail = err_thread.join().unwrap_or_default();
        tail.append(&mut err_tail);
        Ok((status.success(), tail))
    });
    while let Some(line) = rx.recv().await {
        tracing::debug!("{what}: {line}");
        if let Some(text) = summary(&line) {
            report(&text);
        }
    }
    match task.await {
        Err(e) => Err(io_error(what, e.to_string())),
        Ok(Err(e)) => Err(io_error(what, e)),
        Ok(Ok((true, _))) => Ok(()),
        Ok(Ok((false, tail))) => Err(io_error(
            what,
            format!(
                "its last lines:\n{}\nfix the cause (a network problem? debootstrap needs the Debian mirror, pip needs pypi.org) and run `polyclaw images base python` again",
                tail.join("\n")
            ),
        )),
    }
}

/// Lines kept from a failed step's output, for its error.
const TAIL_LINES: usize = 30;

/// Sends every line of `stream` to `tx`; returns the last [`TAIL_LINES`].
fn forward_lines(
    stream: Option<impl std::io::Read>,
    tx: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Vec<String> {
    let mut tail = std::collections::VecDeque::with_capacity(TAIL_LINES + 1);
    if let Some(stream) = stream {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            tail.push_back(line);
            if tail.len() > TAIL_LINES {
                tail.pop_front();
            }
        }
    }
    tail.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_base_wins() {
        assert_eq!(base_tag(None), DEFAULT_TAG);
        assert_eq!(base_tag(Some("me/py:1")), "me/py:1");
        assert!(DEFAULT_TAG.contains(MCP_VERSION));
    }

    #[test]
    fn pip_fetches_wheels_for_the_base_python() {
        let c = pip_command(Path::new("/tmp/r"));
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"/tmp/r/opt/mcp".to_string()), "{args:?}");
        assert!(args.contains(&format!("mcp=={MCP_VERSION}")));
        assert!(args.contains(&"--only-binary=:all:".to_string()));
    }
}
