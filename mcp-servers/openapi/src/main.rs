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
//! certificates and no proxy is taken from the environment, so the
//! binary works the same in a `FROM scratch` image.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod call;
mod cli;
mod config;
mod openapi;
mod refs;
mod server;

#[cfg(test)]
mod tests;

use polyclaw_server_stdio as serve;

use std::process::ExitCode;

const NAME: &str = "polyclaw-server-openapi";

fn main() -> ExitCode {
    serve::main(NAME, cli::USAGE, cli::parse(std::env::args().skip(1)), run)
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    let config = config::Config::load(&options.file)?;
    let names = config.tool_names();
    eprintln!(
        "{NAME}: {} ({}): {} tool(s): {}",
        options.file.display(),
        config.name,
        names.len(),
        names.join(", ")
    );
    if options.check {
        return Ok(());
    }
    eprintln!("{NAME}: requests go to {}", config.base_url);
    serve::run_stdio(async { server::OpenApiServer::new(config) })
}
