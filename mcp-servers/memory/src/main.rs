//! `polyclaw-server-memory`: an MCP server (stdio) that keeps notes between
//! conversations, one JSON file per note.
//!
//! Usage: `polyclaw-server-memory [--dir DIR]`. The directory defaults to
//! `/data` when it exists (the volume of the container image), else
//! `./memory` (created if missing).
//!
//! Tools: `remember {key, text, tags?}`, `recall {key}`, `search {query}`
//! (substring of key, text or tags, or `#tag`), `forget {key}`, `list {}`.
//! Writes are atomic (temporary file, then rename); keys are checked so they
//! cannot name a path outside the directory.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod cli;
mod server;
mod store;

#[cfg(test)]
mod tests;

use polyclaw_server_stdio as serve;

use std::{process::ExitCode, sync::Arc};

const NAME: &str = "polyclaw-server-memory";

fn main() -> ExitCode {
    serve::main(NAME, cli::USAGE, cli::parse(std::env::args().skip(1)), run)
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let store = store::Store::open(&options.dir)?;
    eprintln!("{NAME}: notes in {}", store.dir().display());
    let server = server::MemoryServer::new(Arc::new(store))?;
    serve::run_stdio(async { Ok(server) })
}
