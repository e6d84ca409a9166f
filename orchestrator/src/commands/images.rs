//! `polyclaw images build`: polyclaw's own MCP servers as container images, built here with
//! no registry: each server is compiled as a static binary
//! (`-C target-feature=+crt-static --target x86_64-unknown-linux-gnu`) and put in a
//! `FROM scratch` image through the Docker Engine API (an in-memory build context).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::error::Error;
use crate::runtime::docker;

use super::out;

/// Our servers that become images: (cargo package, image name).
pub const OWN_SERVERS: &[(&str, &str)] = &[
    ("polyclaw-server-fs", "polyclaw/fs"),
    ("polyclaw-server-exec", "polyclaw/exec"),
    ("polyclaw-server-http", "polyclaw/http"),
    ("polyclaw-server-memory", "polyclaw/memory"),
    ("polyclaw-server-echo", "polyclaw/echo"),
    // polyclaw itself, for compose/: built only when asked for (`--only polyclaw`).
    ("polyclaw", "polyclaw/polyclaw"),
];

/// The image tag every build gets.
pub const TAG: &str = "latest";

/// The cargo target triple of static builds.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Finds the polyclaw source tree: `source` if given, else the current folder or the one the
/// binary was built in, whichever holds `mcp-servers/`.
///
/// # Errors
/// [`Error::InvalidInput`] saying to run from a checkout or pass `--source`.
pub fn source_dir(source: Option<&Path>) -> Result<PathBuf, Error> {
    let mut candidates: Vec<PathBuf> = source.map(Path::to_path_buf).into_iter().collect();
    if source.is_none() {
        if let Ok(cwd) = std::env::current_dir() {
            candidates.push(cwd);
        }
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/polyclaw → the workspace two levels up
            if let Some(root) = exe.ancestors().nth(3) {
                candidates.push(root.to_path_buf());
            }
        }
    }
    candidates
        .into_iter()
        .find(|d| d.join("mcp-servers").is_dir() && d.join("Cargo.toml").is_file())
        .ok_or_else(|| {
            Error::InvalidInput(
                "cannot find polyclaw's source tree (a folder with Cargo.toml and mcp-servers/); run this from a checkout or pass --source DIR".into(),
            )
        })
}

/// Compiles one package as a static binary; returns its path.
///
/// # Errors
/// [`Error::Io`] when cargo cannot run or the build fails (with cargo's last lines).
pub fn build_static(source: &Path, package: &str) -> Result<PathBuf, Error> {
    let target_dir = source.join("target/static");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(source)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            package,
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Error::Io {
            context: "cannot run cargo; polyclaw images build needs the Rust toolchain".into(),
            source,
        })?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::Io {
            context: format!(
                "building {package} as a static binary failed:\n{}",
                tail.join("\n")
            ),
            source: std::io::Error::other("cargo build failed"),
        });
    }
    Ok(target_dir.join(TARGET).join("release").join(package))
}

/// `images build [--only NAME]`: builds every own server image, with progress.
///
/// # Errors
/// Docker unreachable, a failed compile or image build.
pub async fn build(source: Option<&Path>, only: &[String]) -> Result<ExitCode, Error> {
    let source = source_dir(source)?;
    let engine = docker::Engine::connect().await?;
    let chosen: Vec<&(&str, &str)> = OWN_SERVERS
        .iter()
        .filter(|(pkg, image)| {
            only.is_empty() || only.iter().any(|o| image.ends_with(o.as_str()) || pkg == o)
        })
        .collect();
    if chosen.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no server matches {only:?}; choose from {}",
            OWN_SERVERS
                .iter()
                .map(|(_, i)| *i)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let total = chosen.len();
    for (i, (package, image)) in chosen.into_iter().enumerate() {
        let tag = format!("{image}:{TAG}");
        let step = |what: &str| {
            eprintln!(
                "[{}/{total}] {bar} {tag}: {what}",
                i + 1,
                bar = bar(i, total)
            )
        };
        step("compiling a static binary (the first build takes a few minutes)");
        let source_for = source.clone();
        let package_owned = (*package).to_string();
        let binary = tokio::task::spawn_blocking(move || build_static(&source_for, &package_owned))
            .await
            .map_err(|e| Error::Io {
                context: "the build task failed".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        step("building the image");
        let labels = [
            ("io.polyclaw.image", "own"),
            ("io.polyclaw.package", *package),
        ];
        docker::build::build_scratch_image(&engine, &tag, &binary, &labels, |line: &str| {
            tracing::debug!(image = %tag, "{line}");
        })
        .await?;
        let size = std::fs::metadata(&binary)
            .map(|m| m.len() / 1024)
            .unwrap_or(0);
        step(&format!("done ({size} KiB binary)"));
    }
    out(&format!(
        "built {total} image(s); a config uses them with `image = \"polyclaw/NAME:{TAG}\"`"
    ));
    Ok(ExitCode::SUCCESS)
}

fn bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

/// `images base python [--mirror URL] [--rebuild]`: the `python` template's base image.
///
/// # Errors
/// Docker unreachable, a missing tool, or a failed step (with its output).
pub async fn base_python(mirror: &str, rebuild: bool) -> Result<ExitCode, Error> {
    use crate::generate::python;
    let engine = docker::Engine::connect().await?;
    if !rebuild && engine.image_exists(python::DEFAULT_TAG).await? {
        out(&format!(
            "{} is already built (`--rebuild` builds it again)",
            python::DEFAULT_TAG
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut report = |line: &str| eprintln!("{line}");
    python::build(&engine, mirror, &mut report).await?;
    out(&format!(
        "the `python` template builds FROM {} (set `[generate] python_base` to use another)",
        python::DEFAULT_TAG
    ));
    Ok(ExitCode::SUCCESS)
}
