//! What a host executable needs to run in an empty (`FROM scratch`) image: the file itself and,
//! for a dynamically linked one, its ELF interpreter and every shared library it needs
//! (transitively), found where this host's loader finds them and copied to the same paths.
//!
//! polyclaw's own servers are ordinary release builds (the same binaries the host runs, from
//! the same `cargo build --release`), so their images hold the binary plus this host's glibc
//! (~3 MB); a static binary needs nothing more. Reads files only; never runs them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use crate::error::Error;

/// The most shared objects one executable may pull in (a loop guard; glibc needs 3–5).
const MAX_OBJECTS: usize = 64;

/// One file of an image's root file system.
#[derive(Debug, Clone)]
pub struct RootFile {
    /// Absolute path inside the image (`/lib/x86_64-linux-gnu/libc.so.6`).
    pub path: String,
    /// The host file it is copied from (symlinks followed).
    pub host: PathBuf,
}

/// The shared objects `binary` (whose contents are `bytes`) needs at run time, as files to put
/// at the same paths in the image: its ELF interpreter first, then its libraries in the order
/// the loader finds them. Empty for a static executable.
///
/// # Errors
/// [`Error::InvalidInput`] when `binary` is not a 64-bit ELF executable, or names a library
/// that is not on this host.
pub fn shared_objects(binary: &Path, bytes: &[u8]) -> Result<Vec<RootFile>, Error> {
    let invalid = |why: String| {
        Error::InvalidInput(format!(
            "{} {why}, so it cannot run in a `FROM scratch` image",
            binary.display()
        ))
    };
    let elf = parse(bytes).map_err(invalid)?;
    let mut files = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    if let Some(interpreter) = elf.interpreter {
        let host = Path::new(interpreter);
        if !host.is_file() {
            return Err(invalid(format!(
                "needs the ELF interpreter {interpreter}, which is not on this host"
            )));
        }
        seen.insert(file_name(interpreter));
        files.push(RootFile {
            path: interpreter.to_string(),
            host: host.to_path_buf(),
        });
    }
    // Breadth first, like the loader: the executable's own needs, then theirs.
    let mut queue: Vec<(String, Vec<String>)> = elf
        .libraries
        .iter()
        .map(|l| ((*l).to_string(), search_dirs(&elf, binary)))
        .collect();
    let mut next = 0;
    while next < queue.len() {
        let (needed, dirs) = queue[next].clone();
        next += 1;
        if !seen.insert(file_name(&needed)) {
            continue;
        }
        if files.len() >= MAX_OBJECTS {
            return Err(invalid(format!(
                "needs more than {MAX_OBJECTS} shared libraries"
            )));
        }
        let found = find(&needed, &dirs).ok_or_else(|| {
            invalid(format!(
                "needs the shared library {needed}, which is not on this host (searched {})",
                dirs.join(", ")
            ))
        })?;
        let data = std::fs::read(&found).map_err(|e| {
            invalid(format!(
                "needs {}, which cannot be read ({e})",
                found.display()
            ))
        })?;
        let lib = parse(&data)
            .map_err(|why| invalid(format!("needs {}, which {why}", found.display())))?;
        let lib_dirs = search_dirs(&lib, &found);
        queue.extend(
            lib.libraries
                .iter()
                .map(|l| ((*l).to_string(), lib_dirs.clone())),
        );
        files.push(RootFile {
            path: found.to_string_lossy().into_owned(),
            host: found,
        });
    }
    Ok(files)
}

/// Parses a 64-bit ELF file; the error says what it is instead.
fn parse(bytes: &[u8]) -> Result<Elf<'_>, String> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("is not an ELF executable".into());
    }
    let elf = Elf::parse(bytes).map_err(|e| format!("is not a readable ELF file ({e})"))?;
    if !elf.is_64 {
        return Err("is not a 64-bit ELF file".into());
    }
    Ok(elf)
}

/// Where the loader looks for `object`'s libraries: its RUNPATH (or legacy RPATH), with
/// `$ORIGIN` expanded, then the system's directories.
fn search_dirs(object: &Elf<'_>, path: &Path) -> Vec<String> {
    let origin = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let own = if object.runpaths.is_empty() {
        &object.rpaths
    } else {
        &object.runpaths
    };
    let mut dirs: Vec<String> = own
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|d| !d.is_empty())
        .map(|d| d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin))
        .collect();
    let arch = std::env::consts::ARCH;
    dirs.extend([
        format!("/lib/{arch}-linux-gnu"),
        format!("/usr/lib/{arch}-linux-gnu"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/lib".to_string(),
        "/usr/lib".to_string(),
        format!("/usr/local/lib/{arch}-linux-gnu"),
        "/usr/local/lib".to_string(),
    ]);
    dirs
}

/// The first regular file named `needed` in `dirs` (or `needed` itself when it is a path).
fn find(needed: &str, dirs: &[String]) -> Option<PathBuf> {
    if needed.contains('/') {
        let path = PathBuf::from(needed);
        return path.is_file().then_some(path);
    }
    dirs.iter()
        .map(|d| Path::new(d).join(needed))
        .find(|p| p.is_file())
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_host_binary_brings_its_loader_and_libc() {
        // The test binary itself is dynamically linked against this host's glibc.
        let exe = std::env::current_exe().expect("current exe");
        let bytes = std::fs::read(&exe).expect("read");
        let files = shared_objects(&exe, &bytes).expect("closure");
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            names.first().is_some_and(|n| n.contains("ld-linux")),
            "interpreter first: {names:?}"
        );
        assert!(
            names.iter().any(|n| n.ends_with("/libc.so.6")),
            "libc: {names:?}"
        );
        assert!(
            files
                .iter()
                .all(|f| f.host.is_file() && f.path.starts_with('/'))
        );
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "no object twice: {names:?}");
    }

    #[test]
    fn a_static_binary_needs_nothing() {
        let busybox = Path::new("/bin/busybox");
        let bytes = std::fs::read(busybox)
            .expect("/bin/busybox: install busybox-static (scripts/deps.sh does)");
        assert!(shared_objects(busybox, &bytes).expect("static").is_empty());
    }

    #[test]
    fn not_an_executable_is_refused_with_the_reason() {
        let err = shared_objects(Path::new("/x/script.sh"), b"#!/bin/sh\necho hi\n")
            .expect_err("a script");
        let text = err.to_string();
        assert!(
            text.contains("/x/script.sh is not an ELF executable"),
            "{text}"
        );
        assert!(shared_objects(Path::new("/x/short"), b"\x7fELF\x02").is_err());
    }
}
