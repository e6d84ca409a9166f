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
//! static binary works the same in a `FROM scratch` image.
//!
//! stdout carries the protocol only; messages go to stderr. The server exits
//! on stdin EOF, SIGTERM or SIGINT.

mod allow;
mod cli;
mod request;
mod serve;
mod server;

#[cfg(test)]
mod tests;

use std::{process::ExitCode, time::Duration};

const NAME: &str = "polyclaw-server-http";

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
    eprintln!("{NAME}: allowed hosts: {}", options.allow.describe());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let requester =
            request::Requester::new(options.allow, options.timeout, options.ca_file.as_deref())?;
        serve::stdio(server::HttpServer::new(requester)?).await
    });
    // Do not wait for a blocking stdin read (non-FIFO stdin) to return.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}
