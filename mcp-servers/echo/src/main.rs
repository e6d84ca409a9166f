//! `polyclaw-server-echo`: a small rmcp MCP server that end-to-end tests and
//! benchmarks of the polyclaw mesh use as a downstream.
//!
//! Usage: `polyclaw-server-echo [--name NAME] [--http ADDR]` — stdio by
//! default, Streamable HTTP at `/mcp` with `--http`. Logs go to stderr only.

mod catalog;
mod cli;
mod client_input;
mod notify;
mod resources;
mod serve;
mod server;
mod state;
mod tools;

#[cfg(test)]
mod tests;

use std::{process::ExitCode, time::Duration};

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(options)) => options,
        Ok(cli::Command::Help) => {
            eprintln!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("polyclaw-server-echo: {err}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    init_logging();
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("polyclaw-server-echo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let shared = state::Shared::new(options.name)?;
    // One client on stdio: a single thread has the lowest latency. HTTP may
    // have many clients: use the multi-threaded scheduler.
    let runtime = match options.http {
        None => tokio::runtime::Builder::new_current_thread(),
        Some(_) => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()?;
    let result = runtime.block_on(async move {
        match options.http {
            None => serve::stdio(shared).await,
            Some(addr) => serve::http(shared, addr).await,
        }
    });
    // Do not wait for a blocking stdin read (non-FIFO stdin) to return.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
