//! `polyclaw images build`: polyclaw's own MCP servers as container images, built here with
//! no registry. One `cargo build` (the README's, in the profile polyclaw itself was built with:
//! a no-op when that build already ran) makes every binary; each goes in a `FROM scratch`
//! image with the loader and libraries it needs, through the Docker Engine API (an in-memory
//! build context).

use std::path::Path;
use std::process::ExitCode;

use crate::error::Error;
use crate::runtime::docker;
use crate::runtime::docker::cargo::{self, Output, own_profile};

use super::out;

/// Our servers that become images: (cargo package, image name). Each is a default member of
/// the workspace, so the README's `cargo build` builds them all.
pub const OWN_SERVERS: &[(&str, &str)] = &[
    ("polyclaw-server-fs", "polyclaw/fs"),
    ("polyclaw-server-exec", "polyclaw/exec"),
    ("polyclaw-server-http", "polyclaw/http"),
    ("polyclaw-server-memory", "polyclaw/memory"),
    ("polyclaw-server-echo", "polyclaw/echo"),
    // polyclaw itself, for compose/ (the same binary as target/release/polyclaw).
    ("polyclaw", "polyclaw/polyclaw"),
];

/// The image tag every build gets.
pub const TAG: &str = "latest";

/// `images build [--only NAME]`: builds every own server image, with progress.
///
/// # Errors
/// Docker unreachable, a failed compile or image build.
pub async fn build(source: Option<&Path>, only: &[String]) -> Result<ExitCode, Error> {
    let source = crate::runtime::docker::cargo::source_dir(source)?;
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
    // Step 0 is the compile; then one step per image.
    let total = chosen.len() + 1;
    let step = |i: usize, what: &str| eprintln!("[{i}/{}] {} {what}", total - 1, bar(i, total));
    let profile = own_profile();
    step(
        0,
        &format!(
            "cargo build --profile {profile} (the build polyclaw came from: a few minutes on a fresh clone, seconds after)"
        ),
    );
    let source_for = source.clone();
    let built =
        tokio::task::spawn_blocking(move || cargo::build(&source_for, &profile, Output::Show))
            .await
            .map_err(|e| Error::Io {
                context: "the build task failed".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
    for (i, (package, image)) in chosen.into_iter().enumerate() {
        let tag = format!("{image}:{TAG}");
        let binary = built.get(*package).ok_or_else(|| {
            Error::InvalidInput(format!(
                "cargo build in {} built no `{package}` binary; is that folder a polyclaw checkout?",
                source.display()
            ))
        })?;
        step(i + 1, &format!("{tag}: building the image"));
        let labels = [
            ("io.polyclaw.image", "own"),
            ("io.polyclaw.package", *package),
        ];
        docker::build::build_scratch_image(&engine, &tag, binary, &labels, |line: &str| {
            tracing::debug!(image = %tag, "{line}");
        })
        .await?;
        let size = std::fs::metadata(binary)
            .map(|m| m.len() / 1024)
            .unwrap_or(0);
        step(i + 1, &format!("{tag}: done ({size} KiB binary)"));
    }
    out(&format!(
        "built {} image(s); a config uses them with `image = \"polyclaw/NAME:{TAG}\"`",
        total - 1
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
    use crate::runtime::docker::python_base as python;
    let engine = docker::Engine::connect().await?;
    let mut report = |line: &str| eprintln!("{line}");
    if !python::build_once(&engine, mirror, rebuild, &mut report).await? {
        out(&format!(
            "{} is already built (`--rebuild` builds it again)",
            python::DEFAULT_TAG
        ));
        return Ok(ExitCode::SUCCESS);
    }
    out(&format!(
        "the `python` template builds FROM {} (set `[generate] python_base` to use another)",
        python::DEFAULT_TAG
    ));
    Ok(ExitCode::SUCCESS)
}
