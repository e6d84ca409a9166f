//! The README's cargo build, run by polyclaw when it needs its own binaries (images of its
//! servers, the `exec` server of generated images) and they are not beside it: the workspace's
//! default members, in the cargo profile polyclaw itself was built with, so it reuses that build
//! instead of compiling anything twice. The only place polyclaw runs cargo.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

/// How much of cargo's own output [`build`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// On polyclaw's stderr as it comes: cargo's progress bar and diagnostics (the CLI).
    Show,
    /// Kept, and quoted only when the build fails (inside a running mesh).
    Quiet,
}

/// The cargo profile polyclaw itself was built with, read off where its binary lives: `release`
/// for `target/release/polyclaw` (the README's build), `dev` for `target/debug/polyclaw`
/// (`cargo run`, the test suite), `NAME` for `target/NAME/polyclaw` (and so for test binaries
/// in `target/NAME/deps`); `release` for an installed binary. Images and generated servers are
/// built with the same profile, so they reuse the build polyclaw came from instead of
/// compiling everything a second time.
#[must_use]
pub fn own_profile() -> String {
    std::env::current_exe().map_or_else(|_| "release".into(), |exe| profile_of(&exe))
}

/// The cargo profile of the executable at `exe` (see [`own_profile`]).
fn profile_of(exe: &Path) -> String {
    let mut dir = exe.parent();
    // A test binary lives one level deeper, in the profile's deps/.
    if dir.and_then(Path::file_name).is_some_and(|n| n == "deps") {
        dir = dir.and_then(Path::parent);
    }
    // Every profile folder cargo builds into holds its fingerprints (CACHEDIR.TAG is not a
    // sign: cargo writes it only when it creates the target folder itself).
    let in_target = dir.is_some_and(|profile| profile.join(".fingerprint").is_dir());
    match dir.and_then(Path::file_name).and_then(|n| n.to_str()) {
        Some("debug") if in_target => "dev".into(),
        Some(name) if in_target => name.into(),
        _ => "release".into(),
    }
}

/// Runs the README's build in the source tree `source` with cargo profile `profile` (see
/// [`own_profile`]): `cargo build --locked` of the workspace's default members (polyclaw and
/// every server it makes images of), so images and generated servers use the very binaries
/// that build made, with no second compilation. Returns every executable it built, by name
/// (wherever `CARGO_TARGET_DIR` puts them).
///
/// # Errors
/// [`Error::Io`] when cargo cannot run, or the build fails (quoting cargo's last lines when
/// they were not shown).
pub fn build(
    source: &Path,
    profile: &str,
    output: Output,
) -> Result<HashMap<String, PathBuf>, Error> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let mut child = without_crate_env(&mut command)
        .current_dir(source)
        .args([
            "build",
            "--locked",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--profile", profile])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(match output {
            Output::Show => Stdio::inherit(),
            Output::Quiet => Stdio::piped(),
        })
        .spawn()
        .map_err(|source| Error::Io {
            context: "cannot run cargo; building polyclaw's servers needs the Rust toolchain"
                .into(),
            source,
        })?;
    // stderr is drained on its own thread so that neither pipe can fill and stall cargo.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let mut executables = HashMap::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((name, path)) = executable(&line) {
                executables.insert(name, path);
            }
        }
    }
    let status = child.wait().map_err(|source| Error::Io {
        context: "cargo did not finish".into(),
        source,
    })?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Io {
            context: if tail.is_empty() {
                format!("cargo build --profile {profile} failed ({status}); its errors are above")
            } else {
                format!(
                    "cargo build --profile {profile} failed ({status}):\n{}",
                    tail.join("\n")
                )
            },
            source: std::io::Error::other("cargo build failed"),
        });
    }
    Ok(executables)
}

/// A `compiler-artifact` message of cargo's JSON output that names an executable: its target
/// name and path.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let path = message["executable"].as_str()?;
    let name = message["target"]["name"].as_str()?;
    Some((name.to_string(), PathBuf::from(path)))
}

/// Removes from a cargo command the variables cargo sets for the crate or test that is
/// running (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...). A build script that watches one of
/// them (ring's watches `CARGO_MANIFEST_DIR`) would otherwise see it change between a build
/// started by a test and one started from a shell, and rebuild itself and everything above
/// it each time the two alternate. The user's own settings (`CARGO_HOME`,
/// `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, ...) stay.
pub fn without_crate_env(command: &mut Command) -> &mut Command {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if EXACT.contains(&name)
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
        {
            command.env_remove(name);
        }
    }
    command
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_messages_name_the_executables() {
        let bin = r#"{"reason":"compiler-artifact","target":{"name":"polyclaw-server-fs","kind":["bin"]},"executable":"/t/release/polyclaw-server-fs","fresh":true}"#;
        assert_eq!(
            executable(bin),
            Some((
                "polyclaw-server-fs".into(),
                PathBuf::from("/t/release/polyclaw-server-fs")
            ))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"name":"rmcp","kind":["lib"]},"executable":null}"#;
        assert_eq!(executable(lib), None);
        assert_eq!(
            executable(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(executable("not json"), None);
    }

    #[test]
    fn the_profile_is_read_off_the_binarys_folder() {
        let target = tempfile::tempdir().expect("temp dir");
        let t = target.path();
        for profile in ["debug", "release", "ci"] {
            std::fs::create_dir_all(t.join(profile).join(".fingerprint")).expect("mkdir");
        }
        assert_eq!(profile_of(&t.join("debug/polyclaw")), "dev");
        assert_eq!(profile_of(&t.join("release/polyclaw")), "release");
        assert_eq!(profile_of(&t.join("debug/deps/mesh-0123abcd")), "dev");
        assert_eq!(profile_of(&t.join("ci/polyclaw")), "ci");
        // Not in a cargo target folder: an installed binary.
        assert_eq!(profile_of(Path::new("/usr/local/bin/polyclaw")), "release");
        let elsewhere = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            profile_of(&elsewhere.path().join("debug/polyclaw")),
            "release"
        );
    }
}
