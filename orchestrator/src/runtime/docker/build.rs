//! Images of polyclaw's own servers: one binary `FROM scratch` (with the shared libraries it
//! needs when it is dynamically linked, see [`super::rootfs`]), built by the engine's classic
//! builder from an in-memory tar (no registry, no BuildKit, no files on disk). Compiling the
//! binary is the caller's job (`polyclaw images build` runs the README's `cargo build`, in the
//! profile polyclaw itself was built with: [`super::cargo`]).

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use futures::StreamExt;

use super::rootfs::{RootFile, shared_objects};
use super::{Engine, error_chain};
use crate::error::Error;

/// Lines of build output kept for the error message of a failed build.
const TAIL_LINES: usize = 20;

/// The Dockerfile of a one-binary image: `rootfs/` holds `/server` and, for a dynamically
/// linked binary, its loader and libraries at their host paths. One layer.
pub const SCRATCH_DOCKERFILE: &str = "FROM scratch\n\
COPY rootfs/ /\n\
USER 65534:65534\n\
ENTRYPOINT [\"/server\"]\n";

/// Builds image `tag` holding `binary` (run as `/server`, user 65534) and what it needs to run,
/// with `labels`; every line of build output goes to `progress`.
///
/// # Errors
/// [`Error::Io`] when the binary cannot be read; [`Error::InvalidInput`] when it is not an
/// executable that can run `FROM scratch` (not ELF, or a library missing on this host);
/// [`Error::Io`] with the last lines of the build log when the engine fails the build.
pub async fn build_scratch_image(
    engine: &Engine,
    tag: &str,
    binary: &Path,
    labels: &[(&str, &str)],
    mut progress: impl FnMut(&str) + Send,
) -> Result<(), Error> {
    let bytes = tokio::fs::read(binary).await.map_err(|source| Error::Io {
        context: format!(
            "cannot read server binary {}; build it first (cargo build --release)",
            binary.display()
        ),
        source,
    })?;
    let libraries = runtime_files(binary, &bytes, "rootfs").await?;
    let mut files = vec![
        ContextFile {
            path: "Dockerfile".into(),
            data: SCRATCH_DOCKERFILE.as_bytes().to_vec(),
            mode: 0o644,
        },
        ContextFile {
            path: "rootfs/server".into(),
            data: bytes,
            mode: 0o755,
        },
    ];
    files.extend(libraries);
    let context = pack_context(&files)?;
    build_image(engine, tag, context, labels, &mut progress).await
}

/// The shared objects `binary` needs (none for a static one), read from the host and placed
/// under `under/` at their absolute paths, ready for a build context whose Dockerfile copies
/// `under/` to `/`.
///
/// # Errors
/// [`Error::InvalidInput`] when `binary` cannot run `FROM scratch`; [`Error::Io`] when a
/// library cannot be read.
pub async fn runtime_files(
    binary: &Path,
    bytes: &[u8],
    under: &str,
) -> Result<Vec<ContextFile>, Error> {
    let mut files = Vec::new();
    for RootFile { path, host } in shared_objects(binary, bytes)? {
        let data = tokio::fs::read(&host).await.map_err(|source| Error::Io {
            context: format!(
                "cannot read {}, a library {} needs",
                host.display(),
                binary.display()
            ),
            source,
        })?;
        files.push(ContextFile {
            path: format!("{under}{path}"),
            data,
            mode: 0o755,
        });
    }
    Ok(files)
}

/// One file of a build context.
#[derive(Debug, Clone)]
pub struct ContextFile {
    /// Path inside the context (`Dockerfile`, `bin/busybox`).
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
    /// Unix mode (`0o644`, `0o755`).
    pub mode: u32,
}

/// Packs files into a build-context tar (fixed mtime, so equal inputs give equal layers).
///
/// # Errors
/// [`Error::Io`] when a file cannot be added (e.g. a path the tar format cannot hold).
pub fn pack_context(files: &[ContextFile]) -> Result<Vec<u8>, Error> {
    let size: usize = files.iter().map(|f| f.data.len() + 1024).sum();
    let mut builder = tar::Builder::new(Vec::with_capacity(size + 4096));
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.data.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &f.path, f.data.as_slice())
            .map_err(|source| Error::Io {
                context: format!("cannot add {} to the build context", f.path),
                source,
            })?;
    }
    builder.into_inner().map_err(|source| Error::Io {
        context: "cannot finish the build context".into(),
        source,
    })
}

/// Builds image `tag` from a build-context tar (with a `Dockerfile`) through the classic
/// builder, with `labels`; every line of build output goes to `progress`.
///
/// # Errors
/// [`Error::Io`] with the last lines of the build log when the engine fails the build.
pub async fn build_image(
    engine: &Engine,
    tag: &str,
    context: Vec<u8>,
    labels: &[(&str, &str)],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), Error> {
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<HashMap<_, _>>(),
        ),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut remember = |line: &str, progress: &mut (dyn FnMut(&str) + Send)| {
        progress(line);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    };
    let mut stream =
        engine
            .docker()
            .build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let text = info.stream.or(info.status).unwrap_or_default();
                for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    remember(line, progress);
                }
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    remember(&error, progress);
                    return Err(build_failed(tag, &tail, error));
                }
            }
            Err(e) => {
                let cause = error_chain(&e);
                remember(&cause, progress);
                return Err(build_failed(tag, &tail, cause));
            }
        }
    }
    Ok(())
}

/// Imports a root file system (a tar of `/`) as image `tag`, with Dockerfile-style `changes`
/// (`ENV K=V`, `LABEL k=v`, `USER u`) applied to its config.
///
/// # Errors
/// [`Error::Io`] naming the image when the engine refuses the import.
pub async fn import_rootfs(
    engine: &Engine,
    tag: &str,
    rootfs: Vec<u8>,
    changes: &[String],
) -> Result<(), Error> {
    let (repo, tag_part) = match tag.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (tag, "latest"),
    };
    let options = bollard::query_parameters::CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag_part.into()),
        changes: changes.to_vec(),
        ..Default::default()
    };
    let mut stream =
        engine
            .docker()
            .create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(Error::Io {
                context: format!("importing image `{tag}` failed; check that Docker is running"),
                source: std::io::Error::other(error_chain(&e)),
            });
        }
    }
    Ok(())
}

fn build_failed(tag: &str, tail: &VecDeque<String>, cause: String) -> Error {
    let tail = tail.iter().cloned().collect::<Vec<_>>().join("\n");
    Error::Io {
        context: format!(
            "building image `{tag}` failed; the build said:\n{tail}\nfix the cause, or check that Docker is running"
        ),
        source: std::io::Error::other(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dynamic_binary_brings_its_libraries_under_rootfs() {
        // This test binary is dynamically linked against the host's glibc.
        let exe = std::env::current_exe().expect("current exe");
        let bytes = std::fs::read(&exe).expect("read");
        let files = runtime_files(&exe, &bytes, "rootfs").await.expect("files");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("rootfs/") && p.ends_with("/libc.so.6")),
            "{paths:?}"
        );
        assert!(files.iter().all(|f| !f.data.is_empty()));
        let err = runtime_files(Path::new("x"), b"#!/bin/sh\n", "rootfs")
            .await
            .err();
        assert!(err.is_some_and(|e| e.to_string().contains("not an ELF")));
    }
}
