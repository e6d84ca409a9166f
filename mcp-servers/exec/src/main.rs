//! `polyclaw-server-exec`: an MCP server (stdio) whose tools are defined by
//! a manifest and run commands.
//!
//! Usage: `polyclaw-server-exec --manifest FILE [--check]`. The manifest
//! (TOML, or JSON when the file ends in `.json`) lists tools: a name, a
//! description, typed arguments and a command whose elements are templates
//! such as `"{path}"` — each element becomes exactly one argv element, never
//! a shell line. The format is documented in this crate's `README.md`.
//!
//! A call returns stdout as text and `{exit_code, stdout, stderr, timed_out,
//! truncated}` as structured content, an error result when the exit code is
//! not 0. Output is capped (1 MiB per stream by default); on timeout the
//! command's whole process group is killed.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod cli;
mod manifest;
mod run;
mod serve;
mod server;
mod template;

#[cfg(test)]
mod tests;

use std::{process::ExitCode, time::Duration};

const NAME: &str = "polyclaw-server-exec";

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
    let manifest = manifest::Manifest::load(&options.manifest)?;
    let names: Vec<&str> = manifest.tools.iter().map(|t| t.name.as_str()).collect();
    eprintln!(
        "{NAME}: {} ({}): {} tool(s): {}",
        options.manifest.display(),
        manifest.name,
        names.len(),
        names.join(", ")
    );
    if options.check {
        return Ok(());
    }
    let server = server::ExecServer::new(manifest);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve::stdio(server));
    // Do not wait for a blocking stdin read (non-FIFO stdin) to return.
    // Commands still running are killed with their process groups.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
