//! Docker: MCP servers in hardened containers, through the Engine API (bollard), never the
//! docker CLI. Nothing is ever pulled: images must exist locally (polyclaw builds its own).
//!
//! - `engine`: [`Engine::connect`] (API version negotiated), image presence, reaping the
//!   leftovers of dead polyclaw instances, removing everything an instance made.
//! - `labels`: the `io.polyclaw.*` labels and this process's [`labels::instance_id`].
//! - `spec`: [`ContainerSpec`] and [`Hardening`] (hardened by default).
//! - `container`: [`run_stdio`] → a [`RunningContainer`] plus its stdout/stdin byte streams.
//! - `create`: the container body (hardening as `HostConfig`), name and secrets tar.
//! - `attach`: splits the attach stream into stdout bytes and logged stderr lines; the
//!   server's stdin writer.
//! - `network`: the instance's private network for servers reached over HTTP (`port`).
//! - `pool`: the warm pool: containers created, attached and started ahead of need.
//! - `build`: [`build_scratch_image`], a `FROM scratch` image around one binary, and
//!   [`build_image`] from any in-memory context ([`pack_context`]).
//! - `cargo`: the README's `cargo build`, run for images when polyclaw's binaries are not
//!   beside it ([`cargo::build`], in the profile polyclaw came from: [`cargo::own_profile`]).
//! - `rootfs`: the loader and shared libraries a dynamically linked binary needs in an empty
//!   image ([`rootfs::shared_objects`]).

pub mod attach;
pub mod build;
pub mod cargo;
pub mod container;
mod create;
pub mod engine;
pub mod labels;
pub mod network;
pub mod pool;
pub mod python_base;
pub mod rootfs;
pub mod spec;

pub use build::{
    ContextFile, build_image, build_scratch_image, import_rootfs, pack_context, runtime_files,
};
pub use container::{ContainerStdin, ContainerStdout, RunningContainer, run_stdio};
pub use engine::Engine;
pub use spec::{ContainerSpec, Hardening, Mount, Network};

use crate::error::Error;

/// Whether `e` is an engine answer with HTTP status `code`.
pub(crate) fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// `e` and its sources, joined by `: ` (bollard's transport errors hide the useful part,
/// e.g. "No such file or directory", in their sources).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// An engine call that failed, as [`Error::Io`] naming what was being done and why.
pub(crate) fn engine_error(doing: impl std::fmt::Display, e: bollard::errors::Error) -> Error {
    Error::Io {
        context: format!(
            "Docker engine: cannot {doing}: {}; is the Docker daemon running?",
            error_chain(&e)
        ),
        source: std::io::Error::other(e),
    }
}
