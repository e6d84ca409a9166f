//! `polyclaw-server-openapi`: an MCP server (stdio) whose tools are the
//! operations of an OpenAPI 3.0/3.1 document.
//!
//! Usage: `polyclaw-server-openapi --config FILE [--check]`. The config
//! (JSON) names the server and holds the document, the API's base URL
//! (default: the document's `servers[0].url`) and a request timeout. Each
//! operation becomes one tool: its parameters (path, query, header) and JSON
//! request body become the tool's arguments, with local `$ref`s inlined. The
//! mapping is documented in this crate's `README.md`.
//!
//! A call makes the HTTP request and returns the response body as text (at
//! most 1 MiB) and, when it is a JSON object, as structured content; status
//! 400 and above and network errors are error results. Redirects are followed
//! only within the API's origin. TLS uses rustls with built-in web root
//! certificates and no proxy is taken from the environment, so the static
//! binary works the same in a `FROM scratch` image.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod call;
mod cli;
mod config;
mod openapi;
mod refs;
mod serve;
mod server;

#[cfg(test)]
mod tests;

use std::{process::ExitCode, time::Duration};

const NAME: &str = "polyclaw-server-openapi";

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
    let config = config::Config::load(&options.config)?;
    let names = config.tool_names();
    eprintln!(
        "{NAME}: {} ({}): {} tool(s): {}",
        options.config.display(),
        config.name,
        names.len(),
        names.join(", ")
    );
    if options.check {
        return Ok(());
    }
    eprintln!("{NAME}: requests go to {}", config.base_url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result =
        runtime.block_on(async { serve::stdio(server::OpenApiServer::new(config)?).await });
    // Do not wait for a blocking stdin read (non-FIFO stdin) to return.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
