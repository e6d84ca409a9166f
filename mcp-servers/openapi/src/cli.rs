//! Command line: `polyclaw-server-openapi --config FILE [--check]`.

use std::path::PathBuf;

/// Usage text, printed by `--help` and after argument errors.
pub const USAGE: &str = "\
usage: polyclaw-server-openapi --config FILE [--check]

An MCP server (stdio) whose tools are the operations of an OpenAPI 3
document; each call makes that HTTP request.

  --config FILE  the server (JSON): name, description, base_url,
                 timeout_secs and the OpenAPI document; see the crate's
                 README.md for the format
  --check        validate the config, list its tools on stderr and exit
  -h, --help     print this help";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub config: PathBuf,
    pub check: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name (`--config FILE` or
/// `--config=FILE`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let mut config = None;
    let mut check = false;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--config" => {
                let file = inline
                    .or_else(|| args.next())
                    .filter(|file| !file.is_empty())
                    .ok_or("--config needs a file")?;
                config = Some(PathBuf::from(file));
            }
            "--check" if inline.is_none() => check = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let config = config.ok_or("--config FILE is required")?;
    Ok(Command::Run(Options { config, check }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_and_check() {
        assert_eq!(
            parse(["--config", "api.json"]),
            Ok(Command::Run(Options {
                config: "api.json".into(),
                check: false
            }))
        );
        assert_eq!(
            parse(["--check", "--config=a.json"]),
            Ok(Command::Run(Options {
                config: "a.json".into(),
                check: true
            }))
        );
        assert_eq!(parse(["-h"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(Vec::<String>::new()).is_err_and(|e| e.contains("required")));
        assert!(parse(["--config"]).is_err());
        assert!(parse(["--config="]).is_err());
        assert!(parse(["--check=yes", "--config", "a"]).is_err());
        assert!(parse(["--manifest", "a"]).is_err());
    }
}
