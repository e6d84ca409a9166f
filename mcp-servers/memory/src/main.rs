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
mod serve;
mod server;
mod store;

#[cfg(test)]
mod tests;

use std::{process::ExitCode, sync::Arc, time::Duration};

const NAME: &str = "polyclaw-server-memory";

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(options)) => options,
        Ok(cli::Command::Help) => {
            eprintln!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{NAME}: {err}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{NAME}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let store = store::Store::open(&options.dir)?;
    eprintln!("{NAME}: notes in {}", store.dir().display());
    let server = server::MemoryServer::new(Arc::new(store))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve::stdio(server));
    // Do not wait for a blocking stdin read (non-FIFO stdin) to return.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
