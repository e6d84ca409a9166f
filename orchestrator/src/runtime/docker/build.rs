//! Images of polyclaw's own servers: one static binary `FROM scratch`, built by the engine's
//! classic builder from an in-memory tar (no registry, no BuildKit, no files on disk).
//! Compiling the binary is the caller's job (`cargo build --release --target
//! x86_64-unknown-linux-gnu` with `RUSTFLAGS='-C target-feature=+crt-static'`).

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use bollard::query_parameters::{BuildImageOptions, BuilderVersion};
use futures::StreamExt;

use super::{Engine, error_chain};
use crate::error::Error;

/// Lines of build output kept for the error message of a failed build.
const TAIL_LINES: usize = 20;

/// The Dockerfile of a one-binary image (the binary is `server` in the context).
pub const SCRATCH_DOCKERFILE: &str = "FROM scratch\n\
COPY server /server\n\
USER 65534:65534\n\
ENTRYPOINT [\"/server\"]\n";

/// Builds image `tag` holding only `binary` (run as `/server`, user 65534), with `labels`;
/// every line of build output goes to `progress`.
///
/// # Errors
/// [`Error::Io`] when the binary cannot be read; [`Error::InvalidInput`] when it is not a
/// static executable (it could not run `FROM scratch`); [`Error::Io`] with the last lines of
/// the build log when the engine fails the build.
pub async fn build_scratch_image(
    engine: &Engine,
    tag: &str,
    binary: &Path,
    labels: &[(&str, &str)],
    mut progress: impl FnMut(&str) + Send,
) -> Result<(), Error> {
    let bytes = tokio::fs::read(binary).await.map_err(|source| Error::Io {
        context: format!(
            "cannot read server binary {}; build it first (cargo build --release --target x86_64-unknown-linux-gnu with RUSTFLAGS='-C target-feature=+crt-static')",
            binary.display()
        ),
        source,
    })?;
    check_static(binary, &bytes)?;
    let context = context_tar(&bytes).map_err(|source| Error::Io {
        context: format!("cannot pack the build context for image `{tag}`"),
        source,
    })?;
    build_image(engine, tag, context, labels, &mut progress).await
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

/// Refuses dynamically linked ELF files (they have a `PT_INTERP` program header: the loader
/// they need does not exist in a scratch image).
///
/// # Errors
/// [`Error::InvalidInput`] saying why `path` cannot run `FROM scratch`.
pub fn check_static(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let not_static = |why: &str| {
        Err(Error::InvalidInput(format!(
            "{} {why}, so it cannot run in a `FROM scratch` image; build it with RUSTFLAGS='-C target-feature=+crt-static' and --target x86_64-unknown-linux-gnu",
            path.display()
        )))
    };
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return not_static("is not an ELF executable");
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return not_static("is not a 64-bit little-endian ELF file");
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return not_static("has a truncated ELF header");
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return not_static("has a bad ELF header");
    };
    for i in 0..usize::from(phnum) {
        let at = phoff + i * usize::from(phentsize);
        match bytes.get(at..at + 4) {
            Some(t) if t == 3u32.to_le_bytes() => {
                return not_static("is dynamically linked (it names an ELF interpreter)");
            }
            Some(_) => {}
            None => return not_static("has a truncated ELF header"),
        }
    }
    Ok(())
}

/// The build context: `Dockerfile` and `server`.
fn context_tar(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    pack_context(&[
        ContextFile {
            path: "Dockerfile".into(),
            data: SCRATCH_DOCKERFILE.as_bytes().to_vec(),
            mode: 0o644,
        },
        ContextFile {
            path: "server".into(),
            data: binary.to_vec(),
            mode: 0o755,
        },
    ])
    .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_are_refused() {
        // This test binary itself is dynamically linked (a normal `cargo test` build).
        let me = std::env::current_exe().ok();
        let bytes = me.as_ref().and_then(|p| std::fs::read(p).ok());
        if let (Some(path), Some(bytes)) = (me, bytes) {
            let err = check_static(&path, &bytes).err().map(|e| e.to_string());
            assert!(err.unwrap_or_default().contains("dynamically linked"));
        }
        let err = check_static(Path::new("x"), b"#!/bin/sh\n").err();
        assert!(err.is_some_and(|e| e.to_string().contains("not an ELF")));
    }

    #[test]
    fn context_has_dockerfile_and_server() {
        let tar = context_tar(b"BIN").unwrap_or_default();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.path().ok().map(|p| p.display().to_string()))
            .collect();
        assert_eq!(names, ["Dockerfile", "server"]);
    }
}
