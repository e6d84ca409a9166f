//! Command line: `polyclaw-server-echo [--name NAME] [--http ADDR]`.

use std::net::SocketAddr;

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-echo [--name NAME] [--http ADDR]

A small MCP server for tests and benchmarks.

  --name NAME   server name (serverInfo.name, logger name); default \"echo\"
  --http ADDR   serve Streamable HTTP at http://ADDR/mcp instead of stdio
                (e.g. 127.0.0.1:0 picks a free port; the bound address is
                printed to stderr as `listening on http://ADDR/mcp`)
  -h, --help    print this help

Logs go to stderr (RUST_LOG, default warn).";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    pub http: Option<SocketAddr>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name. Accepts `--opt VALUE` and
/// `--opt=VALUE`.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut options = Options {
        name: "echo".to_owned(),
        http: None,
    };
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--name" => {
                let name = value("--name")?;
                if name.is_empty() {
                    return Err("--name must not be empty".to_owned());
                }
                options.name = name;
            }
            "--http" => {
                let addr = value("--http")?;
                let addr = addr
                    .parse()
                    .map_err(|err| format!("--http {addr}: {err} (expected IP:PORT)"))?;
                options.http = Some(addr);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().copied())? {
            Command::Run(options) => Ok(options),
            Command::Help => Err("help".to_owned()),
        }
    }

    #[test]
    fn defaults_to_stdio_named_echo() {
        assert_eq!(
            run(&[]),
            Ok(Options {
                name: "echo".into(),
                http: None
            })
        );
    }

    #[test]
    fn parses_name_and_http_in_both_forms() -> Result<(), String> {
        let options = run(&["--name", "a", "--http", "127.0.0.1:0"])?;
        assert_eq!(options.name, "a");
        assert_eq!(
            options.http.map(|a| a.to_string()),
            Some("127.0.0.1:0".into())
        );
        let options = run(&["--http=[::1]:8080", "--name=b"])?;
        assert_eq!(options.name, "b");
        assert_eq!(options.http.map(|a| a.port()), Some(8080));
        Ok(())
    }

    #[test]
    fn rejects_bad_input() {
        assert!(run(&["--http"]).is_err());
        assert!(run(&["--http", "localhost"]).is_err());
        assert!(run(&["--name", ""]).is_err());
        assert!(run(&["--bogus"]).is_err());
        assert!(run(&["positional"]).is_err());
        assert_eq!(parse(["--help"]), Ok(Command::Help));
    }
}
