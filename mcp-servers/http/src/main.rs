//! `polyclaw-server-http`: an MCP server (stdio) with one tool, `request`,
//! for HTTP requests to allow-listed hosts only.
//!
//! Usage: `polyclaw-server-http --allow HOST[:PORT] [--allow ...]
//! [--timeout SECS] [--ca-file PEM]`. A request to any other host (also
//! through a redirect) is refused with an error naming the allow list and
//! the flag. The result carries status, headers and body text (capped by
//! `max_bytes`) as structured content and as text.
//!
//! TLS uses rustls with built-in web root certificates (plus `--ca-file`),
//! never the system store, and no proxy is taken from the environment: the
//! binary works the same in a `FROM scratch` image.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod allow;
mod cli;
mod request;
mod server;

#[cfg(test)]
mod tests;

use polyclaw_server_stdio as serve;

use std::process::ExitCode;

const NAME: &str = "polyclaw-server-http";

fn main() -> ExitCode {
    serve::main(NAME, cli::USAGE, cli::parse(std::env::args().skip(1)), run)
}

fn run(options: cli::Options) -> anyhow::Result<()> {
    eprintln!("{NAME}: allowed hosts: {}", options.allow.describe());
    serve::run_stdio(async {
        let requester =
            request::Requester::new(options.allow, options.timeout, options.ca_file.as_deref())?;
        server::HttpServer::new(requester)
    })
}
