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
mod server;
mod template;

#[cfg(test)]
mod tests;

use polyclaw_server_stdio as serve;

use std::process::ExitCode;

const NAME: &str = "polyclaw-server-exec";

fn main() -> ExitCode {
    serve::main(NAME, cli::USAGE, cli::parse(std::env::args().skip(1)), run)
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let manifest = manifest::Manifest::load(&options.file)?;
    let names: Vec<&str> = manifest.tools.iter().map(|t| t.name.as_str()).collect();
    eprintln!(
        "{NAME}: {} ({}): {} tool(s): {}",
        options.file.display(),
        manifest.name,
        names.len(),
        names.join(", ")
    );
    if options.check {
        return Ok(());
    }
    let server = server::ExecServer::new(manifest);
    serve::run_stdio(async { Ok(server) })
}
