//! `polyclaw-server-fs`: an MCP server (stdio) for the files under one root
//! directory.
//!
//! Usage: `polyclaw-server-fs [--root DIR] [--read-only]`. The root defaults
//! to `/data` when it exists (the volume of the container image), else the
//! current directory.
//!
//! Tools: `list_dir`, `read_file`, `write_file` (refused with `--read-only`),
//! `stat`, `search`. Resources: the files under the root as
//! `file:///relative/path` (at most 1000 listed; any file under the root can
//! be read). Every path is resolved under the root: `..` that leaves it,
//! absolute paths elsewhere and symlinks pointing outside are refused.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod cli;
mod glob;
mod ops;
mod root;
mod server;

#[cfg(test)]
mod tests;

use polyclaw_server_stdio as serve;

use std::{process::ExitCode, sync::Arc};

const NAME: &str = "polyclaw-server-fs";

fn main() -> ExitCode {
    serve::main(NAME, cli::USAGE, cli::parse(std::env::args().skip(1)), run)
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let root = root::Root::new(&options.root)?;
    eprintln!(
        "{NAME}: serving {}{}",
        root.dir().display(),
        if options.read_only {
            " (read-only)"
        } else {
            ""
        }
    );
    let server = server::FsServer::new(Arc::new(root), options.read_only)?;
    serve::run_stdio(async { Ok(server) })
}
